// The Lua scripts of the Redis store. Redis runs a script as one atomic step, but it does
// not roll back a script that fails halfway. So a write script first reads and checks what
// could make a write fail (the version vector against each origin's stream: types, values
// and last ids), then adds to the actor indexes, undoing those adds if one index turns out
// not to be a sorted set, and only then writes streams and the vector, which can no longer
// fail. A script either applies whole or returns an error having changed nothing. A failed
// check is an error reply starting with CORRUPT, which the store raises as StoreCorruptError.
//
// Both write scripts take the same layout:
//   KEYS[1]          the version vector (hash origin -> highest seq)
//   KEYS[1 + j]      the stream of origin j, j = 1..o
//   KEYS[1 + o + i]  the actor index of event i, i = 1..n
//   ARGV[1]          o
//   ARGV[1 + j]      the name of origin j (its field in the vector)
//   ARGV[o + 3i - 1], ARGV[o + 3i], ARGV[o + 3i + 1]
//                    per event: its origin number j, then two script-specific fields
//   KEYS[1 + o + n + k], ARGV[#ARGV - f - 1 + k]
//                    fence k = 1..f (append only): an actor's fencing key and the epoch the
//                    append holds it under (a geo of several nodes; see docs/geo.md), or
//                    the prefix's owner token and this node's (one node: owner-lease.ts)
//   KEYS[#KEYS]      the stream of the store's writes (keys.ts, `changes`): each write that
//                    stores something adds one entry naming the origins it moved and their
//                    new highest seq, trimmed to about CHANGES_KEPT entries
//   ARGV[#ARGV]      f
//
// The TypeScript half, at the end of this file: `WriteCall` builds that layout, and
// `defineStoreScripts` registers every script on a connection as a command.
import type { Redis } from 'ioredis'
import { encodeName } from './encoding.js'
import type { RedisKeys } from './keys.js'

/** About how many entries the stream of writes keeps (XADD MAXLEN ~): older ones are trimmed. */
export const CHANGES_KEPT = 10_000

/** The Lua helpers both write scripts start with. */
const PRELUDE = `
local o = tonumber(ARGV[1])
local f = tonumber(ARGV[#ARGV])
local n = (#ARGV - 2 - o - f) / 3

-- The highest seq held for origin j, after checking that the vector and its stream agree.
local function held(j)
  local origin, stream = ARGV[1 + j], KEYS[1 + j]
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

-- Phase one: reads and checks only. The highest seq held per origin number.
local held0 = {}
local function prepare()
  local kind = redis.call('TYPE', KEYS[#KEYS])['ok']
  if kind ~= 'none' and kind ~= 'stream' then
    return nil, 'CORRUPT ' .. KEYS[#KEYS] .. ' is not the stream of writes: it is a ' .. kind
  end
  local seqs = {}
  for j = 1, o do
    local seq, err = held(j)
    if err then return nil, err end
    seqs[j] = seq
    held0[j] = seq
  end
  return seqs
end

local function u64(value)
  return struct.pack('>I4I4', math.floor(value / 4294967296), value % 4294967296)
end

-- Phase two: writes the events listed in 'events' (event numbers) with their seqs and
-- members, and moves the vector to 'seqs'. Returns an error text, having written nothing,
-- when an actor index is not a sorted set.
local function write(events, eventSeqs, members, seqs)
  for k = 1, #events do
    local added = redis.pcall('ZADD', KEYS[1 + o + events[k]], 0, members[k])
    if type(added) == 'table' and added.err then
      for back = k - 1, 1, -1 do
        redis.call('ZREM', KEYS[1 + o + events[back]], members[back])
      end
      -- Redis out of memory is Redis unavailable, not data this store did not write.
      if string.sub(added.err, 1, 3) == 'OOM' then return added.err end
      return 'CORRUPT ' .. KEYS[1 + o + events[k]] .. ' is not the sorted set of an actor: ' .. added.err
    end
  end
  for k = 1, #events do
    local j = tonumber(ARGV[o + 3 * events[k] - 1])
    redis.call('XADD', KEYS[1 + j], string.format('%d-0', eventSeqs[k]), 'e', members[k])
  end
  local moved = {}
  for j = 1, o do
    if seqs[j] ~= held0[j] then
      local seq = string.format('%d', seqs[j])
      redis.call('HSET', KEYS[1], ARGV[1 + j], seq)
      moved[#moved + 1] = ARGV[1 + j]
      moved[#moved + 1] = seq
    end
  end
  -- Pairs go in entries of at most 500 (unpack takes a bounded number of values).
  for from = 1, #moved, 1000 do
    redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', '${CHANGES_KEPT}', '*',
      unpack(moved, from, math.min(from + 999, #moved)))
  end
end
`

/**
 * Appends drafts, allocating each origin's next seqs. Per event: origin number, sort-key
 * head (no seq), body; the member is head ‖ seq ‖ body. Returns the seqs in draft order.
 */
export const APPEND_SCRIPT = `${PRELUDE}
for k = 1, f do
  local epoch = redis.call('GET', KEYS[1 + o + n + k])
  if epoch ~= ARGV[#ARGV - f - 1 + k] then
    return redis.error_reply('FENCED ' .. KEYS[1 + o + n + k] .. ' is at epoch ' .. tostring(epoch) ..
      ', the append holds ' .. ARGV[#ARGV - f - 1 + k])
  end
end
local seqs, err = prepare()
if err then return redis.error_reply(err) end
local events, eventSeqs, members = {}, {}, {}
for i = 1, n do
  local j = tonumber(ARGV[o + 3 * i - 1])
  local seq = seqs[j] + 1
  seqs[j] = seq
  events[i] = i
  eventSeqs[i] = seq
  members[i] = ARGV[o + 3 * i] .. u64(seq) .. ARGV[o + 3 * i + 1]
end
err = write(events, eventSeqs, members, seqs)
if err then return redis.error_reply(err) end
return eventSeqs
`

/**
 * Stores replicated events that extend their origin's seqs without a gap; skips the rest.
 * Per event: origin number, seq, member. Events of one origin must come in ascending seq
 * order. Returns the 1-based numbers of the events stored.
 */
export const INGEST_SCRIPT = `${PRELUDE}
local seqs, err = prepare()
if err then return redis.error_reply(err) end
local events, eventSeqs, members = {}, {}, {}
for i = 1, n do
  local j = tonumber(ARGV[o + 3 * i - 1])
  local seq = tonumber(ARGV[o + 3 * i])
  if seq == seqs[j] + 1 then
    seqs[j] = seq
    events[#events + 1] = i
    eventSeqs[#eventSeqs + 1] = seq
    members[#members + 1] = ARGV[o + 3 * i + 1]
  end
end
err = write(events, eventSeqs, members, seqs)
if err then return redis.error_reply(err) end
return events
`

/**
 * Replaces an actor's snapshot, unless the events up to its key are not \`count\` of them.
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

/** Takes or renews a lease (KEYS: the lease; ARGV: holder, ttl ms): 1 when `holder` holds it now. */
export const HOLD_LEASE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

/** Gives a lease up (KEYS: the lease; ARGV: holder) if `holder` holds it. */
export const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

/**
 * Takes a prefix for one node (no `--members`). KEYS: the owner lease, the owner token, the
 * geo's members. ARGV: node id, holder JSON (an object; the script adds `token`), the new
 * token, ttl ms. Replies `{1, token}` when taken; `{0, holder JSON, pttl}` when another node
 * holds the lease; `{-1, count}` when a geo of several nodes runs on the prefix. The same node
 * (a restart after kill -9) takes its own lease back at once, under a new token.
 */
export const TAKE_OWNER_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, holder = pcall(cjson.decode, current)
  if not ok or type(holder) ~= 'table' or holder.nodeId ~= ARGV[1] then
    return {0, current, redis.call('PTTL', KEYS[1])}
  end
end
local now = redis.call('TIME')
local members = redis.call('ZCOUNT', KEYS[3], tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000), '+inf')
if members > 0 then return {-1, members} end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], string.sub(ARGV[2], 1, -2) .. ',"token":' .. cjson.encode(ARGV[3]) .. '}', 'PX', ARGV[4])
return {1, ARGV[3]}
`

/**
 * Renews the owner lease (KEYS: the lease, the token; ARGV: token, lease value, ttl ms): 1
 * while the token is this node's, even after the lease expired (no other node took it since:
 * taking moves the token). 0 when another node took the prefix. A Redis that lost its data
 * holds neither key: nobody took the prefix meanwhile, so the node sets both again.
 */
export const RENEW_OWNER_SCRIPT = `
local token = redis.call('GET', KEYS[2])
if token ~= ARGV[1] and (token or redis.call('EXISTS', KEYS[1]) == 1) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`

/**
 * Gives the owner lease up on a clean stop (KEYS: the lease, the token; ARGV: token) if the
 * token is still this node's. The token stays: a node paused past its lease that wakes after
 * this one stopped must find that the prefix changed hands.
 */
export const RELEASE_OWNER_SCRIPT = `
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

/** A key of a script call. */
export type ScriptKey = Buffer | string
/** An argument of a script call. */
export type ScriptArg = Buffer | string | number

/** The scripts the store defines on its connection (`...Buffer` variants reply raw bytes). */
export interface StoreScripts {
  /** `APPEND_SCRIPT`, keys and args as a `WriteCall` lays them out. */
  anywhereAppend(numKeys: number, keys: ScriptKey[], args: ScriptArg[]): Promise<unknown>
  /** `INGEST_SCRIPT`, keys and args as a `WriteCall` lays them out. */
  anywhereIngest(numKeys: number, keys: ScriptKey[], args: ScriptArg[]): Promise<unknown>
  /** `SAVE_SNAPSHOT_SCRIPT`. */
  anywhereSaveSnapshot(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<unknown>
  /** `LOAD_SNAPSHOT_SCRIPT`, replying the state's raw bytes. */
  anywhereLoadSnapshotBuffer(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Buffer | null>
  /** `VECTOR_SCRIPT`, replying raw bytes. */
  anywhereVectorBuffer(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Buffer[]>
  /** `HOLD_LEASE_SCRIPT`. */
  anywhereHoldLease(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>
  /** `RELEASE_LEASE_SCRIPT`. */
  anywhereReleaseLease(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>
  /** `TAKE_OWNER_SCRIPT`. */
  anywhereTakeOwner(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<unknown>
  /** `RENEW_OWNER_SCRIPT`. */
  anywhereRenewOwner(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>
  /** `RELEASE_OWNER_SCRIPT`. */
  anywhereReleaseOwner(numKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>
}

/** Each script under the command name it is defined as (ioredis adds the `...Buffer` variants). */
const STORE_SCRIPTS: Record<string, string> = {
  anywhereAppend: APPEND_SCRIPT,
  anywhereIngest: INGEST_SCRIPT,
  anywhereSaveSnapshot: SAVE_SNAPSHOT_SCRIPT,
  anywhereLoadSnapshot: LOAD_SNAPSHOT_SCRIPT,
  anywhereVector: VECTOR_SCRIPT,
  anywhereHoldLease: HOLD_LEASE_SCRIPT,
  anywhereReleaseLease: RELEASE_LEASE_SCRIPT,
  anywhereTakeOwner: TAKE_OWNER_SCRIPT,
  anywhereRenewOwner: RENEW_OWNER_SCRIPT,
  anywhereReleaseOwner: RELEASE_OWNER_SCRIPT,
}

/** Defines every script of `StoreScripts` on a client, before it connects. */
export function defineStoreScripts(client: Pick<Redis, 'defineCommand'>): void {
  for (const [name, lua] of Object.entries(STORE_SCRIPTS)) client.defineCommand(name, { lua })
}

/** The KEYS and ARGV of a write script (append or ingest), laid out as described above. */
export class WriteCall {
  private readonly originNumbers = new Map<string, number>()
  private readonly originNames: Buffer[] = []
  private readonly streams: Buffer[] = []
  private readonly actors: Buffer[] = []
  private readonly eventArgs: ScriptArg[] = []
  private readonly fenceKeys: Buffer[] = []
  private readonly fenceEpochs: string[] = []

  constructor(private readonly layout: RedisKeys) {}

  /** Adds one event: its origin, actor index and the two script-specific fields. */
  add(origin: string, actor: Buffer, first: ScriptArg, second: ScriptArg): void {
    let number = this.originNumbers.get(origin)
    if (number === undefined) {
      const name = encodeName(origin)
      number = this.originNames.push(name)
      this.originNumbers.set(origin, number)
      this.streams.push(this.layout.origin(name))
    }
    this.actors.push(actor)
    this.eventArgs.push(number, first, second)
  }

  /** Adds a fence (append only): the write goes through only while `key` holds `epoch`. */
  fence(key: Buffer, epoch: number | string): void {
    this.fenceKeys.push(key)
    this.fenceEpochs.push(String(epoch))
  }

  /** How many of `keys()` are KEYS (all of them). */
  get numKeys(): number {
    return 2 + this.streams.length + this.actors.length + this.fenceKeys.length
  }

  /** KEYS: the vector, each origin's stream, each event's actor index, each fence, the stream of writes. */
  keys(): ScriptKey[] {
    return [
      this.layout.vector(),
      ...this.streams,
      ...this.actors,
      ...this.fenceKeys,
      this.layout.changes(),
    ]
  }

  /** ARGV: the origin count, the origin names, three fields per event, each fence's epoch, the fence count. */
  args(): ScriptArg[] {
    return [
      this.originNames.length,
      ...this.originNames,
      ...this.eventArgs,
      ...this.fenceEpochs,
      this.fenceKeys.length,
    ]
  }
}
