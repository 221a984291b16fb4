-- Take, renew or release a shard lease. The fence number only ever grows, so a worker that lost its
-- lease (paused, slow, partitioned) is refused by commit_batch.lua even if it wakes up later.
--
-- KEYS[1] the lease hash; ARGV: action ("take" | "renew" | "release"), owner, fence, ttl_ms
-- Returns the fence held after the call, or false when the caller does not hold the lease.
local key, action, owner, fence, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local held = redis.call('HMGET', key, 'owner', 'fence', 'expires')
local live = tonumber(held[3] or '0') >= now_ms
local mine = held[1] == owner and live and (fence == '' or held[2] == fence)

if action == 'take' then
  if live and not mine then return false end
  if mine then
    redis.call('HSET', key, 'expires', now_ms + ttl)
    return tonumber(held[2])
  end
  -- Free or expired: whoever held it before lost the race to us; its fence is now stale.
  local next_fence = redis.call('HINCRBY', key, 'fence', 1)
  redis.call('HSET', key, 'owner', owner, 'expires', now_ms + ttl)
  return next_fence
end
if not mine then return false end
if action == 'renew' then
  redis.call('HSET', key, 'expires', now_ms + ttl)
else
  redis.call('HSET', key, 'expires', 0)
end
return tonumber(held[2])
