-- The recent gifts ticker of a campaign (ingest/ticker.py), one batch of changes at a time, so two
-- consumers on two shards cannot interleave half-applied changes. Sequence numbers are zero-padded
-- digits of one width: string order is numeric order.
--
-- KEYS: items, order, gone, gone order, state (see ingest/ticker.py for the layout)
-- ARGV: kept, gone kept, a new list id, ops JSON, seed (entries of a list seen before, or "")
-- Returns 1 if the list changed.
local items, order, gone, gone_order, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kept, gone_kept = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[5] ~= '' and redis.call('EXISTS', state) == 0 then
  -- Redis lost the list (restarted empty, flushed): start from the gifts this worker last saw.
  for _, entry in ipairs(cjson.decode(ARGV[5])) do
    if redis.call('HSETNX', items, entry['key'], cjson.encode(entry)) == 1 then
      redis.call('ZADD', order, 0, entry['pos'] .. ':' .. entry['key'])
    end
  end
end
redis.call('HSETNX', state, 'id', ARGV[3])
local changed = false
local function drop(key, current)
  redis.call('ZREM', order, current['pos'] .. ':' .. key)
  redis.call('HDEL', items, key)
  changed = true
end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  local kind, key, seq, entry = op[1], op[2], op[3], op[4]
  local raw = redis.call('HGET', items, key)
  local current = raw and cjson.decode(raw)
  local removed = redis.call('HGET', gone, key)
  if current and current['seq'] >= seq then
    -- a duplicate or an older record: already reflected
  elseif removed and removed >= seq then
    -- older than the gift's refund
  elseif kind == 'remove' then
    if current then drop(key, current) end
    redis.call('HSET', gone, key, seq)
    redis.call('ZADD', gone_order, redis.call('HINCRBY', state, 'n', 1), key)
  elseif kind == 'add' or (kind == 'update' and current) then
    local pos = seq
    -- A correction keeps the gift's place and time: it is the same gift, not a new one.
    if current and kind == 'update' then pos, entry['at'] = current['pos'], current['at'] end
    if current and pos ~= current['pos'] then drop(key, current) end
    entry['pos'], entry['seq'] = pos, seq
    redis.call('HSET', items, key, cjson.encode(entry))
    redis.call('ZADD', order, 0, pos .. ':' .. key)
    changed = true
  end
end
local size = redis.call('ZCARD', order)
if size > kept then
  for _, member in ipairs(redis.call('ZRANGE', order, 0, size - kept - 1)) do
    redis.call('HDEL', items, string.sub(member, string.find(member, ':', 1, true) + 1))
  end
  redis.call('ZREMRANGEBYRANK', order, 0, size - kept - 1)
end
size = redis.call('ZCARD', gone_order)
if size > gone_kept then
  for _, key in ipairs(redis.call('ZRANGE', gone_order, 0, size - gone_kept - 1)) do
    redis.call('HDEL', gone, key)
  end
  redis.call('ZREMRANGEBYRANK', gone_order, 0, size - gone_kept - 1)
end
if changed then redis.call('HINCRBY', state, 'rev', 1) end
return changed and 1 or 0
