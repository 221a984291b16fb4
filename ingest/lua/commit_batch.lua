-- Commit one batch a caller worked out in Python (ingest/items.py), atomically, with its position.
--
-- KEYS[1]  the campaign's meta hash; every other key shares its {hash tag}, so one slot holds all.
-- ARGV[1]  the campaign key base, e.g. "{fr:7}"
-- ARGV[2]  JSON: {expect, lease, position, gens, sums, refs, tombs, rejects, reject_cap, stats,
--          records, applied, writes} where writes = [[generation, [[item key, state it must still
--          have or "" for none, new state], ...]], ...]; sums = [[generation, slug, field, delta], ...];
--          refs = [[generation, slug, value, group (false: all groups), delta], ...] (count_distinct).
--
-- Compare-and-set: the caller read each item's state and computed the batch from it; if any state
-- changed since (another shard's batch, a scan page), nothing is written and the caller reads again.
--
-- All or nothing. Redis does not roll back a script that fails halfway, so the script checks
-- everything first (guards, states, that every aggregate field it changes is an integer of ours and
-- keeps its headroom, the keys' types), then writes; nothing in the writing can fail.
local meta, base = KEYS[1], ARGV[1]
local batch = cjson.decode(ARGV[2])
local LIMIT = 4611686018427387904 -- 2^62, as ingest/items.py
local START = 'START'

-- 0. Whose turn: a writer refused as "stale" again and again takes the campaign's turn (a key with a
-- short expiry); while another writer holds it, nothing is written ("busy") and the caller retries.
-- So optimistic commits make progress even when a scan and several shards write the same items.
local turn_key = base .. ':turn'
local turn = redis.call('GET', turn_key)
if turn and turn ~= (batch['turn'] or '') then return {'busy'} end

-- 1. Guards ------------------------------------------------------------------------------------
-- Only the generation machinery (generation.lua) creates the meta hash: a batch never does.
if redis.call('HEXISTS', meta, 'gen') == 0 then return {'no_meta'} end

-- Meta fields the caller computed this batch for (which generations are live and being built, a
-- scan segment's position...). If any moved, nothing is written and the caller asks again.
for field, value in pairs(batch['expect'] or {}) do
  if (redis.call('HGET', meta, field) or '') ~= value then return {'gens_changed', field} end
end

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease = batch['lease']
if lease then
  local held = redis.call('HMGET', base .. ':lease:' .. lease['name'], 'owner', 'fence', 'expires')
  if held[1] ~= lease['owner'] or held[2] ~= tostring(lease['fence'])
      or tonumber(held[3] or '0') < now_ms then
    return {'lease_lost'}
  end
end

-- The shard position names the checkpoint it moves from. After a failover to a replica that missed
-- the last batch, the stored checkpoint is older than the caller's: nothing is written, and the
-- caller reads again after the stored one.
local position = batch['position']
local ckpt_key
if position then
  ckpt_key = base .. ':ckpt:' .. position['stream']
  local stored = redis.call('HGET', ckpt_key, position['shard'])
  if not stored or stored == '' then stored = START end
  local expected = position['expect']
  if expected == '' then expected = START end
  if stored ~= expected then return {'checkpoint_moved', stored} end
end

local function is_integer(raw) return raw == false or raw == nil or string.match(raw, '^%-?%d+$') ~= nil end

for _, field in ipairs({'version', 'records', 'rejected'}) do
  if not is_integer(redis.call('HGET', meta, field)) then return {'corrupt', '', meta .. ' ' .. field} end
end

-- 2. Checks: states unchanged, fields ours, headroom kept --------------------------------------
local current_gen = redis.call('HGET', meta, 'gen')
local function gen_of(name) if name == 'live' then return current_gen end return name end
local function prefix_of(name) return base .. ':g' .. gen_of(name) end

for _, part in ipairs(batch['writes']) do
  local items, writes = prefix_of(part[1]) .. ':items', part[2]
  local ok, kind = pcall(redis.call, 'TYPE', items)
  if not ok or (kind['ok'] ~= 'hash' and kind['ok'] ~= 'none') then return {'corrupt', gen_of(part[1]), items} end
  for first = 1, #writes, 500 do  -- one HMGET per 500 items (unpack's stack stays small)
    local fields = {}
    for i = first, math.min(first + 499, #writes) do table.insert(fields, writes[i][1]) end
    local held = redis.call('HMGET', items, unpack(fields))
    for n, item in ipairs(fields) do
      if (held[n] or '') ~= writes[first + n - 1][2] then return {'stale', gen_of(part[1]), item} end
    end
  end
end

local sums = batch['sums'] or {}
for _, s in ipairs(sums) do
  local key = prefix_of(s[1]) .. ':m:' .. s[2]
  local ok, raw = pcall(redis.call, 'HGET', key, s[3])
  if not ok or not is_integer(raw) then return {'corrupt', gen_of(s[1]), key .. ' ' .. s[3]} end
  if math.abs(tonumber(raw or '0') + tonumber(s[4])) > LIMIT then return {'overflow_check'} end
end

-- References of distinct values, per group (`:d:`, counted in the group) and over all groups (`:D:`,
-- counted in the total): a count moves when a value's references go from 0 or to 0.
local refs = {}
for _, r in ipairs(batch['refs'] or {}) do  -- [generation, slug, value, group or false, delta]
  local prefix = prefix_of(r[1])
  local ref = {key = prefix .. ':D:' .. r[2], field = r[3], counted = 't', delta = tonumber(r[5]),
               mkey = prefix .. ':m:' .. r[2], live = gen_of(r[1]) == current_gen, slug = r[2]}
  if r[4] then
    ref.key, ref.field, ref.counted = prefix .. ':d:' .. r[2], r[3] .. ':' .. r[4], 'g:' .. r[4]
  end
  local ok1, held = pcall(redis.call, 'HGET', ref.key, ref.field)
  local ok2, counted = pcall(redis.call, 'HGET', ref.mkey, ref.counted)
  if not (ok1 and ok2 and is_integer(held) and is_integer(counted)) then
    return {'corrupt', gen_of(r[1]), ref.key .. ' ' .. ref.field}
  end
  ref.before = tonumber(held or '0')
  table.insert(refs, ref)
end

local rejects = batch['rejects'] or {}
local rkey = base .. ':rejects'
if #rejects > 0 then
  local kind = redis.call('TYPE', rkey)['ok']
  if kind ~= 'list' and kind ~= 'none' then return {'corrupt', '', rkey} end
end
for _, t in ipairs(batch['tombs'] or {}) do
  local key = prefix_of(t[1]) .. ':tomb'
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' and kind ~= 'none' then return {'corrupt', gen_of(t[1]), key} end
end

-- 3. Writes: nothing here can fail -------------------------------------------------------------
for _, part in ipairs(batch['writes']) do
  local items = prefix_of(part[1]) .. ':items'
  local args = {}
  for _, write in ipairs(part[2]) do
    table.insert(args, write[1])
    table.insert(args, write[3])
    if #args >= 1000 then redis.call('HSET', items, unpack(args)); args = {} end
  end
  if #args > 0 then redis.call('HSET', items, unpack(args)) end
end

local touched = {}
local function hincr(key, field, amount)
  if amount == '0' or amount == 0 then return end
  if redis.call('HINCRBY', key, field, amount) == 0 and field ~= 't' then redis.call('HDEL', key, field) end
end
for _, s in ipairs(sums) do
  hincr(prefix_of(s[1]) .. ':m:' .. s[2], s[3], s[4])
  if gen_of(s[1]) == current_gen then touched[s[2]] = true end
end
for _, ref in ipairs(refs) do
  local after = ref.before + ref.delta
  if after == 0 then redis.call('HDEL', ref.key, ref.field) else redis.call('HSET', ref.key, ref.field, after) end
  if ref.before <= 0 and after > 0 then
    hincr(ref.mkey, ref.counted, 1)
  elseif ref.before > 0 and after <= 0 then
    hincr(ref.mkey, ref.counted, -1)
  end
  if ref.live then touched[ref.slug] = true end
end
for _, t in ipairs(batch['tombs'] or {}) do
  local key = prefix_of(t[1]) .. ':tomb'
  if t[2] == 'add' then redis.call('ZADD', key, now[1], t[3]) else redis.call('ZREM', key, t[3]) end
end

if position and position['seq'] then redis.call('HSET', ckpt_key, position['shard'], position['seq']) end
if #rejects > 0 then
  for _, reject in ipairs(rejects) do redis.call('LPUSH', rkey, reject) end
  redis.call('LTRIM', rkey, 0, batch['reject_cap'] - 1)
  redis.call('HINCRBY', meta, 'rejected', #rejects)
end
for field, value in pairs(batch['stats'] or {}) do redis.call('HSET', meta, field, value) end
if batch['records'] then redis.call('HINCRBY', meta, 'records', batch['records']) end

if turn then redis.call('DEL', turn_key) end  -- (ours: checked at the start)

local version = redis.call('HGET', meta, 'version') or '0'
local out = {'ok', version, batch['applied'] or 0, redis.call('HGET', meta, 'epoch') or ''}
if next(touched) ~= nil then
  version = tostring(redis.call('HINCRBY', meta, 'version', 1))
  out[2] = version
  for slug, _ in pairs(touched) do
    table.insert(out, slug)
    table.insert(out, redis.call('HGETALL', base .. ':g' .. current_gen .. ':m:' .. slug))
  end
end
return out
