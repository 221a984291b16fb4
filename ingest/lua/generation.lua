-- Start or finish a rebuild of a campaign's aggregates (see ingest/rebuild.py).
--
-- KEYS[1] the campaign's meta hash; ARGV[1] the campaign key base, e.g. "{fr:7}"; ARGV[2] action.
--
-- start  ARGV[3] specs JSON, ARGV[4] scan plan JSON, ARGV[5] reason, ARGV[6] "1" to replace
--        Creates a new building generation with these metric definitions, replacing (and deleting)
--        a building generation of other definitions. Returns the building generation.
-- swap   ARGV[3] generation, ARGV[4] new epoch
--        Makes the building generation live and deletes the old live one, in one step, so screens
--        go from the old numbers to the new ones with nothing in between. Returns the new version,
--        or false if that generation is no longer the one being built.
-- reset  ARGV[3] new epoch
--        The campaign's state is gone (Redis lost its data): start over with nothing live.
local meta, base, action = KEYS[1], ARGV[1], ARGV[2]

local function drop_generation(gen)
  if not gen or gen == '' or gen == '0' then return end
  local prefix = base .. ':g' .. gen
  local specs = redis.call('HGET', meta, 'specs:' .. gen)
  redis.call('UNLINK', prefix .. ':items')
  if specs then
    for _, spec in ipairs(cjson.decode(specs)) do
      redis.call('UNLINK', prefix .. ':m:' .. spec['slug'], prefix .. ':d:' .. spec['slug'],
                 prefix .. ':D:' .. spec['slug'])
    end
  end
  local plan = redis.call('HGET', meta, 'scan:' .. gen)
  if plan then
    for i = 0, cjson.decode(plan)['segments'] - 1 do
      redis.call('HDEL', meta, 'scan:' .. gen .. ':' .. i)
    end
  end
  redis.call('HDEL', meta, 'specs:' .. gen, 'scan:' .. gen)
end

if action == 'reset' then
  if redis.call('EXISTS', meta) == 1 then return false end
  redis.call('HSET', meta, 'gen', '0', 'building', '', 'next_gen', '0', 'version', '0',
             'epoch', ARGV[3], 'status', 'recalculating')
  return true
end

if action == 'start' then
  local building = redis.call('HGET', meta, 'building') or ''
  if building ~= '' then
    if redis.call('HGET', meta, 'specs:' .. building) == ARGV[3] and ARGV[6] == '' then
      return building
    end
    drop_generation(building)
  end
  local gen = tostring(redis.call('HINCRBY', meta, 'next_gen', 1))
  redis.call('HSET', meta, 'building', gen, 'specs:' .. gen, ARGV[3], 'scan:' .. gen, ARGV[4],
             'rebuild_reason', ARGV[5])
  local status = redis.call('HGET', meta, 'status') or ''
  if (redis.call('HGET', meta, 'gen') or '0') == '0' and (status == '' or status == 'live') then
    redis.call('HSET', meta, 'status', 'recalculating')  -- other statuses say more: keep them
  end
  return gen
end

if action == 'swap' then
  local gen = ARGV[3]
  if redis.call('HGET', meta, 'building') ~= gen then return false end
  local old = redis.call('HGET', meta, 'gen')
  if old ~= gen then drop_generation(old) end
  redis.call('HSET', meta, 'gen', gen, 'building', '', 'status', 'live', 'epoch', ARGV[4],
             'rebuilt_at', redis.call('TIME')[1])
  local reason = redis.call('HGET', meta, 'rebuild_reason')
  if reason then redis.call('HSET', meta, 'last_rebuild_reason', reason) end
  redis.call('HDEL', meta, 'rebuild_reason', 'rebuild_requested_at')
  return redis.call('HINCRBY', meta, 'version', 1)
end

return redis.error_reply('unknown action ' .. tostring(action))
