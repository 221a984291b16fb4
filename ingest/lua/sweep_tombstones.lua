-- Forget items that count for nothing (removed or unusable) once no older record of them can
-- arrive any more: records leave the stream after its retention, so a state older than that only
-- costs memory. Their removal time is the score in the generation's tombstone set.
--
-- KEYS[1] the campaign's meta hash; ARGV[1] the campaign key base; ARGV[2] age in seconds after
-- which a tombstone is dropped; ARGV[3] at most this many per generation per call.
-- Returns how many item states were dropped.
local meta, base = KEYS[1], ARGV[1]
local age, most = tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('HEXISTS', meta, 'gen') == 0 then return 0 end
local cutoff = tonumber(redis.call('TIME')[1]) - age
local dropped = 0
for _, field in ipairs({'gen', 'building'}) do
  local gen = redis.call('HGET', meta, field)
  if gen and gen ~= '' and gen ~= '0' then
    local prefix = base .. ':g' .. gen
    local tombs, items = prefix .. ':tomb', prefix .. ':items'
    for _, key in ipairs(redis.call('ZRANGEBYSCORE', tombs, '-inf', cutoff, 'LIMIT', 0, most)) do
      local raw = redis.call('HGET', items, key)
      -- Still a tombstone? (A later record may have brought the item back meanwhile.) A state is
      -- [sequence, entries] (ingest/items.py), or {"s": ..., "c": entries} from an earlier version.
      local ok, state = pcall(cjson.decode, raw or '')
      local entries = ok and type(state) == 'table' and (state[2] or state['c'])
      if raw and type(entries) == 'table' and next(entries) == nil then
        redis.call('HDEL', items, key)
        dropped = dropped + 1
      end
      redis.call('ZREM', tombs, key)
    end
  end
end
return dropped
