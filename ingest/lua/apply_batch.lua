-- Apply one batch of item changes to a campaign's aggregates, atomically, with its position.
--
-- KEYS[1]  the campaign's meta hash; every other key shares its {hash tag}, so one slot holds all.
-- ARGV[1]  the campaign key base, e.g. "{fr:7}"
-- ARGV[2]  JSON: {expect, lease, position, gens, changes, rejects, reject_cap, stats, records}
--
-- Idempotent by construction: each item's current contribution is stored with the sequence number
-- that produced it. A change applies only if it is newer than what is stored, so a replayed or
-- duplicated record is a no-op, and an INSERT for a key that exists is an upsert. A scanned item
-- (sequence "") only fills an item no stream record has touched: the stream always wins.
--
-- All or nothing. Redis does not roll back a script that fails halfway, so the script runs in two
-- passes: the first only reads and checks (guards, item states, every aggregate field it will
-- change, headroom for each total), the second only writes what the first validated. A failure in
-- the first pass writes nothing; the second pass has nothing left that can fail.
local meta = KEYS[1]
local base = ARGV[1]
local batch = cjson.decode(ARGV[2])

-- Largest magnitude an aggregate field may reach: far below the 2^63 of HINCRBY, so that taking
-- away an old contribution (at most 10^15 each, ingest/metrics.py) can never overflow either.
local LIMIT = 4611686018427387904 -- 2^62
local EXACT = 9007199254740992 -- 2^53: doubles are exact integers below this
local START = 'START'

-- 1. Guards ------------------------------------------------------------------------------------
-- Only the generation machinery (generation.lua) creates the meta hash: a batch never does.
if redis.call('HEXISTS', meta, 'gen') == 0 then
  return {'no_meta'}
end

-- Meta fields the caller computed this batch for (which generations are live and being built, a
-- scan segment's position...). If any moved, nothing is written and the caller asks again.
for field, value in pairs(batch['expect'] or {}) do
  if (redis.call('HGET', meta, field) or '') ~= value then
    return {'gens_changed', field}
  end
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
  if stored ~= expected then
    return {'checkpoint_moved', stored}
  end
end

local function integer_field(key, field)
  local ok, raw = pcall(redis.call, 'HGET', key, field)
  if not ok then return nil, key end
  if not raw then return 0 end
  if not string.match(raw, '^%-?%d+$') then return nil, key .. ' ' .. field end
  return tonumber(raw)
end

for _, field in ipairs({'version', 'records', 'rejected'}) do
  local _, bad = integer_field(meta, field)
  if bad then return {'corrupt', '', bad} end
end

-- 2. Read pass: work out every write, check it, write nothing ---------------------------------
-- An item state as this script writes it, or nil if it is anything else (damaged).
local function decode_state(raw)
  local ok, state = pcall(cjson.decode, raw)
  if not ok or type(state) ~= 'table' or type(state['s']) ~= 'string' or type(state['c']) ~= 'table' then
    return nil
  end
  for _, entry in ipairs(state['c']) do
    if type(entry) ~= 'table' or (entry[1] ~= 'n' and entry[1] ~= 'd') or type(entry[2]) ~= 'string'
        or type(entry[3]) ~= 'string' or type(entry[4]) ~= 'string'
        or (entry[1] == 'n' and not string.match(entry[4], '^%-?%d+$')) then
      return nil
    end
  end
  return state
end

local function encode_state(seq, entries)
  return cjson.encode({s = seq, c = entries})
end

local function is_negative(text) return string.sub(text, 1, 1) == '-' end

local item_writes = {} -- {items key, item key, state}
local pending = {} -- items key .. NUL .. item key -> state written earlier in this batch
local tomb_ops = {} -- {'add' or 'drop', tomb key, item key}, in order
local increments = {} -- key -> field -> list of exact partial sums (each below 2^53)
local running = {} -- key -> field -> approximate value after the batch so far (for headroom)
local ref_deltas = {} -- key -> field -> reference change (count_distinct)
local ref_order = {} -- {key, field, metric key, counted field} in first-seen order
local touched_current = {}
local overflowed = {}
local applied = 0
local current_gen = redis.call('HGET', meta, 'gen')

local function current_value(key, field)
  running[key] = running[key] or {}
  local value = running[key][field]
  if value == nil then
    local stored, bad = integer_field(key, field)
    if bad then return nil, bad end
    value = stored
    running[key][field] = value
  end
  return value
end

-- Would the first `count` of these increments (key, field, amount) keep every field they touch
-- within LIMIT? Every field always stays within it, so the write pass can never overflow.
local function headroom(moves, count)
  local after = {}
  for i = 1, count do
    local m = moves[i]
    local id = m[1] .. '\0' .. m[2]
    if after[id] == nil then
      local value, bad = current_value(m[1], m[2])
      if bad then return nil, bad end
      after[id] = value
    end
    after[id] = after[id] + m[3]
  end
  for _, value in pairs(after) do
    if math.abs(value) > LIMIT then return false end
  end
  return true
end

local function add_increment(key, field, amount)
  increments[key] = increments[key] or {}
  local sums = increments[key][field]
  if not sums then
    sums = {0}
    increments[key][field] = sums
  end
  if math.abs(sums[#sums]) + math.abs(amount) >= EXACT then
    table.insert(sums, 0) -- keep every partial sum exact; each is written with its own HINCRBY
  end
  sums[#sums] = sums[#sums] + amount
  running[key][field] = running[key][field] + amount
end

local function add_ref(key, field, delta, mkey, group_field, gen)
  ref_deltas[key] = ref_deltas[key] or {}
  if ref_deltas[key][field] == nil then
    ref_deltas[key][field] = 0
    table.insert(ref_order, {key, field, mkey, group_field, gen})
  end
  ref_deltas[key][field] = ref_deltas[key][field] + delta
end

-- The increments of one entry: kind "n" adds its value to the total and its group; kind "d" adds
-- a reference to a distinct value (counted in the group and the total while referenced).
local function entry_moves(prefix, entry, sign, moves, refs)
  local kind, slug, group, value = entry[1], entry[2], entry[3], entry[4]
  local mkey = prefix .. ':m:' .. slug
  if kind == 'n' then
    local amount = tonumber(value) * sign
    table.insert(moves, {mkey, 't', amount})
    table.insert(moves, {mkey, 'g:' .. group, amount})
  else
    table.insert(refs, {prefix .. ':d:' .. slug, value .. ':' .. group, sign, mkey, 'g:' .. group})
    table.insert(refs, {prefix .. ':D:' .. slug, value, sign, mkey, 't'})
  end
  return slug
end

local now_s = tonumber(now[1])
-- Contributions come per generation, each computed with that generation's metric definitions:
-- a rebuild in progress gets every record too. "live" names whichever generation is live.
for _, name in ipairs(batch['gens'] or {}) do
  local gen = name
  if name == 'live' then gen = current_gen end
  if gen ~= '0' and gen ~= '' then
  local prefix = base .. ':g' .. gen
  local items = prefix .. ':items'
  local tombs = prefix .. ':tomb'
  for index, change in ipairs(batch['changes']) do
    local item_key, seq, entries = change[1], change[2], change[3][name]
    local slot = items .. '\0' .. item_key
    local old = pending[slot]
    if old == nil then
      local ok, stored = pcall(redis.call, 'HGET', items, item_key)
      if not ok then return {'corrupt', gen, items} end
      old = false
      if stored then
        old = decode_state(stored)
        if not old then return {'corrupt', gen, items .. ' ' .. item_key} end
      end
    end
    local newer = true
    if old then
      if seq == '' then
        newer = (old['s'] == '')
      else
        newer = (seq > old['s'])
      end
    end
    if newer then
      local moves, refs, slugs = {}, {}, {}
      if old then
        for _, entry in ipairs(old['c']) do
          slugs[entry_moves(prefix, entry, -1, moves, refs)] = true
        end
      end
      local removals = #moves
      for _, entry in ipairs(entries) do
        slugs[entry_moves(prefix, entry, 1, moves, refs)] = true
      end
      local fits, bad = headroom(moves, #moves)
      if bad then return {'corrupt', gen, bad} end
      if not fits then
        -- Counting this change would take a total past what Redis holds exactly: the caller sets
        -- it aside with its reason, and sends it again contributing nothing ("n"); if even taking
        -- the item's old contribution away would, the change is left out and the item keeps its
        -- old contribution ("k").
        local removal_fits = headroom(moves, removals)
        if overflowed[index] ~= 'k' then overflowed[index] = removal_fits and 'n' or 'k' end
      else
        for _, m in ipairs(moves) do add_increment(m[1], m[2], m[3]) end
        for _, r in ipairs(refs) do add_ref(r[1], r[2], r[3], r[4], r[5], gen) end
        if gen == current_gen then
          for slug, _ in pairs(slugs) do touched_current[slug] = true end
        end
        table.insert(item_writes, {items, item_key, encode_state(seq, entries)})
        pending[slot] = {s = seq, c = entries}
        -- An item that counts for nothing (removed, or unusable) is remembered only as long as an
        -- older record of it could still arrive: tombstones are dropped after the stream's
        -- retention (sweep_tombstones.lua).
        if #entries == 0 then
          table.insert(tomb_ops, {'add', tombs, item_key, gen})
        elseif old and next(old['c']) == nil then
          table.insert(tomb_ops, {'drop', tombs, item_key, gen})
        end
        applied = applied + 1
      end
    end
  end
  end
end

if next(overflowed) ~= nil then
  local out = {'overflow'}
  for index, how in pairs(overflowed) do table.insert(out, how .. ':' .. index) end
  return out
end

-- Current reference counts of every distinct value touched (validated like the sums).
local ref_now = {}
for i, r in ipairs(ref_order) do
  local value, bad = integer_field(r[1], r[2])
  if bad then return {'corrupt', r[5], bad} end
  ref_now[i] = value
  local _, bad_count = current_value(r[3], r[4])
  if bad_count then return {'corrupt', r[5], bad_count} end
end

local rejects = batch['rejects'] or {}
local rkey = base .. ':rejects'
if #rejects > 0 then
  local kind = redis.call('TYPE', rkey)['ok']
  if kind ~= 'list' and kind ~= 'none' then return {'corrupt', '', rkey} end
end
local tomb_keys = {}
for _, t in ipairs(tomb_ops) do tomb_keys[t[2]] = t[4] end
for key, gen in pairs(tomb_keys) do
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' and kind ~= 'none' then return {'corrupt', gen, key} end
end

-- 3. Write pass: nothing here can fail ---------------------------------------------------------
local function hincr(key, field, amount)
  if amount == 0 then return end
  local result = redis.call('HINCRBY', key, field, string.format('%.0f', amount))
  if result == 0 and field ~= 't' then
    redis.call('HDEL', key, field)
  end
end

for _, w in ipairs(item_writes) do
  redis.call('HSET', w[1], w[2], w[3])
end
for _, t in ipairs(tomb_ops) do
  if t[1] == 'add' then redis.call('ZADD', t[2], now_s, t[3]) else redis.call('ZREM', t[2], t[3]) end
end

for key, fields in pairs(increments) do
  for field, sums in pairs(fields) do
    for _, amount in ipairs(sums) do hincr(key, field, amount) end
  end
end

for i, r in ipairs(ref_order) do
  local delta = ref_deltas[r[1]][r[2]]
  if delta ~= 0 then
    local before = ref_now[i]
    local after = before + delta
    if after == 0 then
      redis.call('HDEL', r[1], r[2])
    else
      redis.call('HSET', r[1], r[2], string.format('%.0f', after))
    end
    if before == 0 and after > 0 then
      hincr(r[3], r[4], 1)
    elseif before > 0 and after == 0 then
      hincr(r[3], r[4], -1)
    end
  end
end

if position and position['seq'] then
  redis.call('HSET', ckpt_key, position['shard'], position['seq'])
end

if #rejects > 0 then
  for _, reject in ipairs(rejects) do redis.call('LPUSH', rkey, reject) end
  redis.call('LTRIM', rkey, 0, batch['reject_cap'] - 1)
  redis.call('HINCRBY', meta, 'rejected', #rejects)
end

for field, value in pairs(batch['stats'] or {}) do
  redis.call('HSET', meta, field, value)
end
if batch['records'] then
  redis.call('HINCRBY', meta, 'records', batch['records'])
end

local version = redis.call('HGET', meta, 'version') or '0'
local out = {'ok', version, applied, redis.call('HGET', meta, 'epoch') or ''}
if next(touched_current) ~= nil then
  version = tostring(redis.call('HINCRBY', meta, 'version', 1))
  out[2] = version
  for slug, _ in pairs(touched_current) do
    table.insert(out, slug)
    table.insert(out, redis.call('HGETALL', base .. ':g' .. current_gen .. ':m:' .. slug))
  end
end
return out
