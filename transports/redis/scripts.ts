// The Lua scripts of the Redis store. Redis runs a script as one atomic step, but it does
// not roll back a script that fails halfway; so every write script checks everything that
// could make a write fail (key types, the version vector against the streams) before its
// first write, and a script either applies whole or returns an error having changed nothing.
// A failed check is an error reply starting with CORRUPT, which the store raises as a
// `StoreCorruptError`.

/** The Lua helpers every write script starts with. */
const PRELUDE = `
local function u64(n)
  local b = {}
  for i = 8, 1, -1 do
    local byte = n % 256
    b[i] = byte
    n = (n - byte) / 256
  end
  return string.char(b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8])
end

-- The highest seq held for an origin, after checking that the vector and the origin's stream agree.
local function held(origin, stream)
  local value = redis.call('HGET', KEYS[1], origin)
  local seq = 0
  if value then
    seq = tonumber(value)
    if seq == nil or seq < 0 or seq % 1 ~= 0 then
      return nil, 'CORRUPT version vector entry of ' .. origin .. ' is not a seq: ' .. value
    end
  end
  local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  local topSeq = 0
  if #top > 0 then topSeq = tonumber(string.match(top[1][1], '^(%d+)%-')) end
  if topSeq ~= seq then
    return nil, 'CORRUPT stream ' .. stream .. ' ends at seq ' .. tostring(topSeq) ..
      ' but the version vector holds ' .. string.format('%d', seq)
  end
  return seq
end

local function checkIndex(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' and kind ~= 'none' then
    return 'CORRUPT ' .. key .. ' is a ' .. kind .. ', not the sorted set of an actor'
  end
end

-- Phase one of a write script: reads and checks only. Returns the highest seq per origin.
local function prepare(n)
  local seqs, checked = {}, {}
  for i = 0, n - 1 do
    local origin = ARGV[1 + 3 * i]
    if seqs[origin] == nil then
      local seq, err = held(origin, KEYS[2 + 2 * i])
      if err then return nil, err end
      seqs[origin] = seq
    end
    local index = KEYS[3 + 2 * i]
    if not checked[index] then
      local err = checkIndex(index)
      if err then return nil, err end
      checked[index] = true
    end
  end
  return seqs
end

local function store(i, seq, member)
  redis.call('XADD', KEYS[2 + 2 * i], string.format('%d-0', seq), 'e', member)
  redis.call('ZADD', KEYS[3 + 2 * i], 0, member)
end
`

/**
 * Appends drafts, allocating each origin's next seqs.
 * KEYS: the vector, then per draft its origin stream and actor index.
 * ARGV: per draft its origin, sort-key head (no seq) and body. Returns the seqs in draft order.
 */
export const APPEND_SCRIPT = `${PRELUDE}
local n = #ARGV / 3
local seqs, err = prepare(n)
if err then return redis.error_reply(err) end
local allocated = {}
for i = 0, n - 1 do
  local origin = ARGV[1 + 3 * i]
  local seq = seqs[origin] + 1
  seqs[origin] = seq
  store(i, seq, ARGV[2 + 3 * i] .. u64(seq) .. ARGV[3 + 3 * i])
  allocated[i + 1] = seq
end
for origin, seq in pairs(seqs) do
  redis.call('HSET', KEYS[1], origin, string.format('%d', seq))
end
return allocated
`

/**
 * Stores replicated events that extend their origin's seqs without a gap; skips the rest.
 * KEYS as for append; ARGV per event: origin, seq, member. Events of one origin must come
 * in ascending seq order. Returns the 0-based indexes of the events stored.
 */
export const INGEST_SCRIPT = `${PRELUDE}
local n = #ARGV / 3
local seqs, err = prepare(n)
if err then return redis.error_reply(err) end
local accepted, moved = {}, {}
for i = 0, n - 1 do
  local origin = ARGV[1 + 3 * i]
  local seq = tonumber(ARGV[2 + 3 * i])
  if seq == seqs[origin] + 1 then
    store(i, seq, ARGV[3 + 3 * i])
    seqs[origin] = seq
    moved[origin] = true
    accepted[#accepted + 1] = i
  end
end
for origin in pairs(moved) do
  redis.call('HSET', KEYS[1], origin, string.format('%d', seqs[origin]))
end
return accepted
`

/**
 * Replaces an actor's snapshot, unless the events up to its key are not `count` of them.
 * KEYS: actor index, snapshot. ARGV: exclusive lex bound past the snapshot's key, count, state.
 * Returns 1 when saved, 0 when ignored.
 */
export const SAVE_SNAPSHOT_SCRIPT = `
if redis.call('ZLEXCOUNT', KEYS[1], '-', ARGV[1]) ~= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'state', ARGV[3], 'upto', ARGV[1], 'count', ARGV[2])
return 1
`

/**
 * An actor's snapshot state, or nil. A snapshot whose count no longer matches the events
 * up to its key (an event that sorts before it has arrived since) is dropped here.
 * KEYS: actor index, snapshot.
 */
export const LOAD_SNAPSHOT_SCRIPT = `
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind == 'none' then return false end
if kind ~= 'hash' then
  return redis.error_reply('CORRUPT ' .. KEYS[2] .. ' is a ' .. kind .. ', not a snapshot hash')
end
local snapshot = redis.call('HMGET', KEYS[2], 'state', 'upto', 'count')
local count = tonumber(snapshot[3])
if not snapshot[1] or not snapshot[2] or count == nil or string.sub(snapshot[2], 1, 1) ~= '(' then
  return redis.error_reply('CORRUPT snapshot ' .. KEYS[2] .. ' lacks a valid state, upto or count')
end
if redis.call('ZLEXCOUNT', KEYS[1], '-', snapshot[2]) ~= count then
  redis.call('DEL', KEYS[2])
  return false
end
return snapshot[1]
`

/** The version vector as a flat [origin, seq, ...] array (raw bytes: origins are not always UTF-8). */
export const VECTOR_SCRIPT = `return redis.call('HGETALL', KEYS[1])`
