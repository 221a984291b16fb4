-- Writes to a campaign's meta hash and shard records that must never create the campaign's state.
--
-- Only generation.lua creates the meta hash (with its generation). If Redis lost the campaign's
-- state, a health report or a shard record landing first would otherwise recreate the hash without
-- a generation and every later batch would be refused: here such a write does nothing instead,
-- and the caller's next look at the campaign notices the loss and heals it.
--
-- KEYS[1] the campaign's meta hash; ARGV[1] the campaign key base, e.g. "{fr:7}"; ARGV[2] action.
--
-- set      ARGV[3..] field, value, field, value...  Returns 1, or 0 if the state is gone.
-- shards   ARGV[3] stream key, ARGV[4..] shard ids: records each shard not yet recorded as START
--          in the stream's checkpoint hash (a shard we know of, nothing applied yet). Returns how
--          many were new, or -1 if the state is gone.
local meta, base, action = KEYS[1], ARGV[1], ARGV[2]

if redis.call('HEXISTS', meta, 'gen') == 0 then
  if action == 'shards' then return -1 end
  return 0
end

if action == 'set' then
  -- Records were lost: only a rebuild's swap clears that status (generation.lua), never a report.
  local keep_status = redis.call('HGET', meta, 'status') == 'needs_rebuild'
  for i = 3, #ARGV, 2 do
    if not (ARGV[i] == 'status' and keep_status and ARGV[i + 1] ~= 'needs_rebuild') then
      redis.call('HSET', meta, ARGV[i], ARGV[i + 1])
    end
  end
  return 1
end

if action == 'shards' then
  local key = base .. ':ckpt:' .. ARGV[3]
  local added = 0
  for i = 4, #ARGV do
    added = added + redis.call('HSETNX', key, ARGV[i], 'START')
  end
  return added
end

return redis.error_reply('unknown action ' .. tostring(action))
