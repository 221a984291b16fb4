-- Apply one batch of item changes to a campaign's aggregates, atomically, with its checkpoint.
--
-- KEYS[1]  the campaign's meta hash; every other key shares its {hash tag}, so one slot holds all.
-- ARGV[1]  the campaign key base, e.g. "{fr:7}"
-- ARGV[2]  JSON: {lease, checkpoint, gens, expect, changes, rejects, reject_cap, stats, records}
--
-- Idempotent by construction: each item's current contribution is stored with the sequence number
-- that produced it. A change applies only if it is newer than what is stored, so a replayed or
-- duplicated record is a no-op, and an INSERT for a key that exists is an upsert. A scanned item
-- (sequence "") only fills an item no stream record has touched: the stream always wins.
-- Fenced: with a lease, nothing is written unless the caller still holds it.
local meta = KEYS[1]
local base = ARGV[1]
local batch = cjson.decode(ARGV[2])

if redis.call('EXISTS', meta) == 0 then
  return {'no_meta'}
end

-- The caller computed contributions for the generations it believed in; if a rebuild started or
-- swapped since, nothing is written and it asks again (a building generation must see every record).
local expect = batch['expect']
if expect then
  local held = redis.call('HMGET', meta, 'gen', 'building')
  if (held[1] or '') ~= expect['gen'] or (held[2] or '') ~= expect['building'] then
    return {'gens_changed'}
  end
end

local lease = batch['lease']
if lease then
  local key = base .. ':lease:' .. lease['shard']
  local held = redis.call('HMGET', key, 'owner', 'fence', 'expires')
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if held[1] ~= lease['owner'] or held[2] ~= tostring(lease['fence'])
      or tonumber(held[3] or '0') < now_ms then
    return {'lease_lost'}
  end
end

local function negate(v)
  if string.sub(v, 1, 1) == '-' then return string.sub(v, 2) end
  if v == '0' then return v end
  return '-' .. v
end

local function incr(key, field, amount)
  local result = redis.call('HINCRBY', key, field, amount)
  if result == 0 and field ~= 't' then
    redis.call('HDEL', key, field)
  end
  return result
end

-- sign is 1 to add an entry, -1 to take it away
local function move(prefix, entry, sign, touched)
  local kind, slug, group, value = entry[1], entry[2], entry[3], entry[4]
  local mkey = prefix .. ':m:' .. slug
  touched[slug] = true
  if kind == 'n' then
    local amount = value
    if sign < 0 then amount = negate(value) end
    incr(mkey, 't', amount)
    incr(mkey, 'g:' .. group, amount)
  else
    local refs = incr(prefix .. ':d:' .. slug, value .. ':' .. group, sign)
    if (sign > 0 and refs == 1) or (sign < 0 and refs == 0) then
      incr(mkey, 'g:' .. group, sign)
    end
    local all = incr(prefix .. ':D:' .. slug, value, sign)
    if (sign > 0 and all == 1) or (sign < 0 and all == 0) then
      incr(mkey, 't', sign)
    end
  end
end

local current_gen = redis.call('HGET', meta, 'gen')
local touched_current = {}
local applied = 0

-- Contributions come per generation: "live" is the generation screens read; a rebuild in progress
-- names its own generation, so both stay exact while it is built.
for _, name in ipairs(batch['gens']) do
  local gen = name
  if name == 'live' then gen = current_gen end
  if gen and gen ~= '' and gen ~= '0' then
  local prefix = base .. ':g' .. gen
  local items = prefix .. ':items'
  local touched = {}
  if gen == current_gen then touched = touched_current end
  for _, change in ipairs(batch['changes']) do
    local item_key, seq, entries = change[1], change[2], change[3][name]
    local stored = redis.call('HGET', items, item_key)
    local old = nil
    local newer = true
    if stored then
      old = cjson.decode(stored)
      if seq == '' then
        newer = (old['s'] == '')
      else
        newer = (seq > old['s'])
      end
    end
    if newer then
      if old then
        for _, entry in ipairs(old['c']) do move(prefix, entry, -1, touched) end
      end
      for _, entry in ipairs(entries) do move(prefix, entry, 1, touched) end
      redis.call('HSET', items, item_key, cjson.encode({s = seq, c = entries}))
      applied = applied + 1
    end
  end
  end
end

local checkpoint = batch['checkpoint']
if checkpoint then
  redis.call('HSET', base .. ':ckpt:' .. checkpoint['stream'], checkpoint['shard'], checkpoint['seq'])
end

local rejects = batch['rejects']
if #rejects > 0 then
  local rkey = base .. ':rejects'
  for _, reject in ipairs(rejects) do redis.call('LPUSH', rkey, reject) end
  redis.call('LTRIM', rkey, 0, batch['reject_cap'] - 1)
  redis.call('HINCRBY', meta, 'rejected', #rejects)
end

for field, value in pairs(batch['stats']) do
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
