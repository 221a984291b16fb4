-- Give back a campaign's commit turn (ingest/store.py Store.apply_batch), if it is still ours.
-- KEYS[1] the turn key; ARGV[1] our token. Returns 1 if it was ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
