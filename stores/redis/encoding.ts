// Byte encodings of the Redis store: names in keys, the sortable event key, and the
// member that holds one event. Redis compares strings byte by byte (memcmp), so every
// encoding here is built so that byte order is exactly the merge order of `compareEventKeys`.
import {
  EVENT_SIG_BYTES,
  StoreCorruptError,
  type EventKey,
  type EventRecord,
  type Hlc,
  type Snapshot,
} from '../../core/index.js'
import {
  hasValueFields,
  readUserValue,
  UserValueDecodeError,
  valueCodec,
} from '../../support/value-codec.js'

/** Bytes of one unsigned 64-bit big-endian field (wall, logical, seq). */
const U64_BYTES = 8
/** Bytes of the two HLC fields that open every sort key. */
const HLC_BYTES = 2 * U64_BYTES
/** Ends the origin inside a sort key; a 0x00 byte of the origin itself is written 0x00 0xff. */
const TERMINATOR = 0x00
const ESCAPE = 0xff
/**
 * Fields of the msgpack body that follows the sort key in a member: `[actorType, actorId,
 * type, payload]`, or for the last event of a signed chunk (core/event-seal.ts)
 * `[actorType, actorId, type, sig.from, sig.bytes, payload]`.
 */
const BODY_FIELDS = 4
const PAYLOAD_FIELD = 3
const SIGNED_BODY_FIELDS = 6
const SIGNED_PAYLOAD_FIELD = 5
/** Fields of a stored snapshot. */
const SNAPSHOT_FIELDS = 3
const STATE_FIELD = 0
/**
 * A payload or state holding a `__proto__` key (msgpack decoders refuse that key) is kept
 * as a JSON string with a flag appended to its record: support/value-codec.ts, shared with
 * the file store. Its own codec, so its shared buffer is never another store's.
 */
const codec = valueCodec()

/** Why a member could not be decoded; the store turns it into a `StoreCorruptError`. */
export class MemberDecodeError extends Error {
  override name = 'MemberDecodeError'
}

/**
 * A name (origin, actor type or id) as bytes: each UTF-16 code unit in UTF-8 form
 * (CESU-8). Unlike UTF-8 this keeps JavaScript's string order (code units, not code
 * points) under byte comparison, and it is lossless for every string, lone surrogates
 * included. For ASCII and most text it is the same bytes as UTF-8.
 */
export function encodeName(name: string): Buffer {
  if (isAscii(name)) return Buffer.from(name, 'latin1')
  const out = Buffer.allocUnsafe(name.length * 3)
  const end = writeName(out, 0, name, false)
  return out.subarray(0, end)
}

/** The inverse of `encodeName`. */
export function decodeName(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const units: number[] = []
  let i = start
  while (i < end) {
    const b = bytes[i]!
    if (b < 0x80) {
      units.push(b)
      i += 1
    } else if (b >= 0xc0 && b < 0xe0 && i + 1 < end && isContinuation(bytes[i + 1]!)) {
      units.push(((b & 0x1f) << 6) | (bytes[i + 1]! & 0x3f))
      i += 2
    } else if (
      b >= 0xe0 &&
      b < 0xf0 &&
      i + 2 < end &&
      isContinuation(bytes[i + 1]!) &&
      isContinuation(bytes[i + 2]!)
    ) {
      units.push(((b & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f))
      i += 3
    } else {
      throw new MemberDecodeError(`invalid name byte 0x${b.toString(16)} at offset ${i}`)
    }
  }
  return String.fromCharCode(...units)
}

/**
 * The first part of a sort key, everything but the seq: wall and logical as u64
 * big-endian, then the escaped origin and its terminator. The append script adds the
 * seq it allocates; `sortKey` adds a known one.
 */
export function sortKeyHead(hlc: Hlc, origin: string): Buffer {
  const out = Buffer.allocUnsafe(HLC_BYTES + origin.length * 4 + 1)
  writeU64(out, 0, hlc.wall)
  writeU64(out, U64_BYTES, hlc.logical)
  let offset = writeName(out, HLC_BYTES, origin, true)
  out[offset++] = TERMINATOR
  return out.subarray(0, offset)
}

/**
 * The place of an event in the merge order as bytes: byte order of two sort keys is
 * `compareEventKeys` of their events, and no sort key is a prefix of another.
 */
export function sortKey(key: EventKey): Buffer {
  const head = sortKeyHead(key.hlc, key.origin)
  const out = Buffer.allocUnsafe(head.length + U64_BYTES)
  head.copy(out)
  writeU64(out, head.length, key.seq)
  return out
}

/**
 * The ZRANGEBYLEX bound just past every member of `key`: the sort key of the same
 * hlc and origin with the next seq. Members after it are exactly the events that sort
 * after `key`; members before it are the events up to and including `key`.
 */
export function sortKeySuccessor(key: EventKey): Buffer {
  return sortKey({ hlc: key.hlc, origin: key.origin, seq: key.seq + 1 })
}

/**
 * The msgpack body of a member: what the sort key does not already say. Names go in as
 * `encodeName` bytes (msgpack strings would lose lone surrogates in long names).
 */
export function encodeBody(
  event: Pick<EventRecord, 'actorType' | 'actorId' | 'type' | 'payload' | 'sig'>,
): Buffer {
  const { sig } = event
  if (sig)
    return encodeWithUserValue(
      [
        encodeName(event.actorType),
        encodeName(event.actorId),
        encodeName(event.type),
        sig.from,
        sig.bytes,
        event.payload,
      ],
      SIGNED_PAYLOAD_FIELD,
      'an event payload',
    )
  return encodeWithUserValue(
    [encodeName(event.actorType), encodeName(event.actorId), encodeName(event.type), event.payload],
    PAYLOAD_FIELD,
    'an event payload',
  )
}

/** A member as written by the ingest path (the append script builds the same bytes in Lua). */
export function encodeMember(event: EventRecord): Buffer {
  return Buffer.concat([sortKey(event), encodeBody(event)])
}

/** Reads the sort key at the start of `bytes`; returns the key and where it ends. */
export function decodeSortKey(bytes: Uint8Array): { key: EventKey; end: number } {
  if (bytes.length < HLC_BYTES + 1 + U64_BYTES)
    throw new MemberDecodeError(`${bytes.length} bytes are shorter than any sort key`)
  const wall = readU64(bytes, 0)
  const logical = readU64(bytes, U64_BYTES)
  let end = HLC_BYTES
  const originBytes: number[] = []
  for (;;) {
    if (end >= bytes.length) throw new MemberDecodeError('origin has no terminator')
    const b = bytes[end]!
    if (b !== TERMINATOR) {
      originBytes.push(b)
      end += 1
    } else if (bytes[end + 1] === ESCAPE) {
      originBytes.push(0)
      end += 2
    } else break
  }
  const origin = decodeName(Uint8Array.from(originBytes))
  const seqAt = end + 1
  if (seqAt + U64_BYTES > bytes.length) throw new MemberDecodeError('sort key ends inside its seq')
  const seq = readU64(bytes, seqAt)
  if (origin.length === 0 || seq < 1) throw new MemberDecodeError('empty origin or seq below 1')
  return { key: { hlc: { wall, logical }, origin, seq }, end: seqAt + U64_BYTES }
}

/** Decodes a member (`sort key ‖ msgpack body`) back into the event it holds. */
export function decodeMember(member: Uint8Array): EventRecord {
  const { key, end } = decodeSortKey(member)
  const body = decodeValue(member.subarray(end))
  if (
    !Array.isArray(body) ||
    !(body[0] instanceof Uint8Array) ||
    !(body[1] instanceof Uint8Array) ||
    !(body[2] instanceof Uint8Array)
  )
    throw new MemberDecodeError('body is not [actorType, actorId, type, payload]')
  const event = {
    actorType: decodeName(body[0]),
    actorId: decodeName(body[1]),
    origin: key.origin,
    seq: key.seq,
    hlc: key.hlc,
    type: decodeName(body[2]),
  }
  if (hasValueFields(body, BODY_FIELDS))
    return { ...event, payload: userValue(body, BODY_FIELDS, PAYLOAD_FIELD) }
  const [, , , from, bytes] = body as unknown[]
  if (
    !hasValueFields(body, SIGNED_BODY_FIELDS) ||
    !Number.isSafeInteger(from) ||
    (from as number) < 1 ||
    (from as number) > key.seq ||
    !(bytes instanceof Uint8Array) ||
    bytes.byteLength !== EVENT_SIG_BYTES
  )
    throw new MemberDecodeError('body is not [actorType, actorId, type, (sig,) payload]')
  return {
    ...event,
    payload: userValue(body, SIGNED_BODY_FIELDS, SIGNED_PAYLOAD_FIELD),
    // A copy: the decoder returns a view of the member's bytes.
    sig: { from: from as number, bytes: bytes.slice() },
  }
}

/**
 * A snapshot's stored bytes: msgpack of `[state, sort key of at, eventCount]`. The actor is the key's, so it is not repeated.
 */
export function encodeSnapshot(snapshot: Snapshot): Buffer {
  const fields = [snapshot.state, sortKey(snapshot.at), snapshot.eventCount]
  if (snapshot.ledger) fields.push(snapshot.ledger)
  return encodeWithUserValue(fields, STATE_FIELD, 'a snapshot state')
}

/** The inverse of `encodeSnapshot`, for the actor whose key held it. */
export function decodeSnapshot(bytes: Uint8Array, actorType: string, actorId: string): Snapshot {
  const value = decodeValue(bytes)
  // With idempotency keys, a fourth field holds their bytes (a JSON flag is a number).
  const fields =
    Array.isArray(value) && value[SNAPSHOT_FIELDS] instanceof Uint8Array
      ? SNAPSHOT_FIELDS + 1
      : SNAPSHOT_FIELDS
  if (
    !Array.isArray(value) ||
    !hasValueFields(value, fields) ||
    !(value[1] instanceof Uint8Array) ||
    !Number.isSafeInteger(value[2])
  )
    throw new MemberDecodeError('snapshot is not [state, at, eventCount, ledger?]')
  const { key, end } = decodeSortKey(value[1])
  if (end !== value[1].length) throw new MemberDecodeError('snapshot key has trailing bytes')
  const state = userValue(value, fields, STATE_FIELD)
  const ledger = fields > SNAPSHOT_FIELDS ? (value[SNAPSHOT_FIELDS] as Uint8Array) : undefined
  return {
    actorType,
    actorId,
    state,
    at: key,
    eventCount: value[2] as number,
    ...(ledger ? { ledger } : {}),
  }
}

/** msgpack of `fields`, field `at` a user value (kept as JSON if msgpack cannot round-trip it), as a Buffer of its own. */
function encodeWithUserValue(fields: unknown[], at: number, what: string): Buffer {
  return Buffer.from(codec.encodeFields(fields, at, what))
}

/** The user value of decoded `fields`, a `MemberDecodeError` when it was stored as JSON that does not parse. */
function userValue(fields: unknown[], count: number, at: number): unknown {
  try {
    return readUserValue(fields, count, at)
  } catch (error) {
    if (error instanceof UserValueDecodeError) throw new MemberDecodeError(error.message)
    throw error
  }
}

/** The value msgpack `bytes` hold; `MemberDecodeError` when they are not msgpack. */
export function decodeValue(bytes: Uint8Array): unknown {
  try {
    return codec.decode(bytes)
  } catch (error) {
    throw new MemberDecodeError(`not msgpack: ${(error as Error).message}`)
  }
}

/** True when every char is below 0x80: then `encodeName` is the same bytes as latin1 and UTF-8. */
export function isAscii(name: string): boolean {
  return ASCII.test(name)
}

const ASCII = /^[\x01-\x7f]*$/

function writeName(out: Buffer, start: number, name: string, escapeZero: boolean): number {
  if (isAscii(name)) return start + out.write(name, start, 'latin1')
  let offset = start
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i)
    if (unit < 0x80) {
      out[offset++] = unit
      if (unit === 0 && escapeZero) out[offset++] = ESCAPE
    } else if (unit < 0x800) {
      out[offset++] = 0xc0 | (unit >> 6)
      out[offset++] = 0x80 | (unit & 0x3f)
    } else {
      out[offset++] = 0xe0 | (unit >> 12)
      out[offset++] = 0x80 | ((unit >> 6) & 0x3f)
      out[offset++] = 0x80 | (unit & 0x3f)
    }
  }
  return offset
}

function isContinuation(b: number): boolean {
  return (b & 0xc0) === 0x80
}

function writeU64(out: Buffer, offset: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset)
  out.writeUInt32BE(value % 0x1_0000_0000, offset + 4)
}

function readU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, U64_BYTES)
  const value = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4)
  if (!Number.isSafeInteger(value))
    throw new MemberDecodeError(`u64 at ${offset} is not a safe integer`)
  return value
}

/** A key whose value this store cannot read: `detail` says what is wrong with it. */
export function corruptKey(key: Buffer, detail: string, cause?: unknown): StoreCorruptError {
  return new StoreCorruptError(
    `redis store: key '${key.toString('utf8')}' ${detail}: it was not written by this store version ` +
      'or has been changed; restore it from a replica or a backup',
    { cause },
  )
}

/** The event a member read from `key` holds; StoreCorruptError naming the key when it holds none. */
export function decodeMemberAt(key: Buffer, member: Buffer): EventRecord {
  try {
    return decodeMember(member)
  } catch (error) {
    throw corruptKey(key, error instanceof Error ? error.message : String(error), error)
  }
}

/** A name read from `key`; StoreCorruptError naming the key when it is not one. */
export function decodeNameAt(key: Buffer, bytes: Buffer): string {
  try {
    return decodeName(bytes)
  } catch (error) {
    throw corruptKey(key, error instanceof Error ? error.message : String(error), error)
  }
}
