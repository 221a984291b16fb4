-- Create a campaign's state, and start, finish or drop the generations of its aggregates
-- (see ingest/rebuild.py and docs/correctness.md). The only script that creates the meta hash.
--
-- KEYS[1] the campaign's meta hash; ARGV[1] the campaign key base, e.g. "{fr:7}"; ARGV[2] action.
--
-- reset  ARGV[3] new epoch
--        The campaign has no state (new, or Redis lost its data): start over with nothing live.
--        A meta hash without a generation is no state either: it is replaced.
-- start  ARGV[3] specs JSON, ARGV[4] scan plan JSON, ARGV[5] reason, ARGV[6] "1" to replace,
--        ARGV[7] a random token
--        Creates a new building generation with these metric definitions, replacing (and deleting)
--        a building generation of other definitions. Its id is a counter and the token: ids are
--        never reused, even after Redis lost the counter, so a scanner or consumer from before a
--        loss can never write into a generation of after it. Returns the building generation,
--        or false if the campaign has no state.
-- swap   ARGV[3] generation, ARGV[4] new epoch
--        Makes the building generation live and deletes the old live one, in one step, so screens
--        go from the old numbers to the new ones with nothing in between; records when
--        (`rebuilt_at`) and the counters then (`records_at_live`, `rejected_at_live`). Returns the
--        new version, or false if that generation is no longer the one being built.
-- drop   ARGV[3] generation, ARGV[4] new epoch, ARGV[5] reason
--        A generation's aggregates cannot be trusted (a field is not an integer): delete it. If it
--        was live, nothing is live until a rebuild replaces it. Returns false if it is unknown.
-- epoch  ARGV[3] new epoch
--        The numbers went back in time (a failover to a replica that missed writes): screens must
--        take the next snapshot whatever its version. Returns the new version.
local meta, base, action = KEYS[1], ARGV[1], ARGV[2]

local function drop_generation(gen)
  if not gen or gen == '' or gen == '0' then return end
  local prefix = base .. ':g' .. gen
  local specs = redis.call('HGET', meta, 'specs:' .. gen)
  redis.call('UNLINK', prefix .. ':items', prefix .. ':tomb')
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
  redis.call('HDEL', meta, 'specs:' .. gen, 'scan:' .. gen, 'scan_done:' .. gen)
end

local has_state = redis.call('HEXISTS', meta, 'gen') == 1

if action == 'reset' then
  if has_state then return false end
  redis.call('DEL', meta)
  redis.call('HSET', meta, 'gen', '0', 'building', '', 'next_gen', '0', 'version', '0',
             'epoch', ARGV[3], 'status', 'recalculating')
  return true
end

if not has_state then return false end

if action == 'start' then
  local building = redis.call('HGET', meta, 'building') or ''
  if building ~= '' then
    if redis.call('HGET', meta, 'specs:' .. building) == ARGV[3] and ARGV[6] == '' then
      return building
    end
    drop_generation(building)
  end
  local gen = tostring(redis.call('HINCRBY', meta, 'next_gen', 1)) .. '-' .. ARGV[7]
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
  -- Only a complete scan goes live (Redis may have failed over since the caller looked).
  if not redis.call('HGET', meta, 'scan_done:' .. gen) then return false end
  local old = redis.call('HGET', meta, 'gen')
  if old ~= gen then drop_generation(old) end
  -- Records lost after this generation began building are missing from it too: it goes live
  -- (it is the best there is) but the campaign stays in needs_rebuild, and rebuilds again.
  local plan = cjson.decode(redis.call('HGET', meta, 'scan:' .. gen) or '{}')
  local requested = tonumber(redis.call('HGET', meta, 'rebuild_requested_at') or '0') or 0
  local still_needed = redis.call('HGET', meta, 'status') == 'needs_rebuild'
      and requested > (tonumber(plan['started']) or 0)
  redis.call('HSET', meta, 'gen', gen, 'building', '', 'epoch', ARGV[4], 'rebuilt_at', redis.call('TIME')[1])
  -- The counters as they stand now: "mostly rejected" is judged only on what came after this.
  redis.call('HSET', meta, 'records_at_live', redis.call('HGET', meta, 'records') or '0',
             'rejected_at_live', redis.call('HGET', meta, 'rejected') or '0')
  if not still_needed then
    redis.call('HSET', meta, 'status', 'live')
    local reason = redis.call('HGET', meta, 'rebuild_reason')
    if reason then redis.call('HSET', meta, 'last_rebuild_reason', reason) end
    redis.call('HDEL', meta, 'rebuild_reason', 'rebuild_requested_at')
  end
  return redis.call('HINCRBY', meta, 'version', 1)
end

if action == 'drop' then
  local gen = ARGV[3]
  if redis.call('HGET', meta, 'gen') == gen then
    drop_generation(gen)
    redis.call('HSET', meta, 'gen', '0', 'status', 'recalculating', 'epoch', ARGV[4],
               'rebuild_reason', ARGV[5])
  elseif redis.call('HGET', meta, 'building') == gen then
    drop_generation(gen)
    redis.call('HSET', meta, 'building', '', 'status', 'needs_rebuild', 'rebuild_reason', ARGV[5],
               'rebuild_requested_at', redis.call('TIME')[1])
  else
    return false
  end
  return redis.call('HINCRBY', meta, 'version', 1)
end

if action == 'epoch' then
  redis.call('HSET', meta, 'epoch', ARGV[3])
  return redis.call('HINCRBY', meta, 'version', 1)
end

return redis.error_reply('unknown action ' .. tostring(action))
