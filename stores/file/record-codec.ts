import { isDeepStrictEqual } from 'node:util'
import { Decoder, Encoder } from '@msgpack/msgpack'
import type { EventRecord, Snapshot } from '../../core/index.js'

// The msgpack body of one record. Arrays, not maps: field names would double the size of
// small events, and the position of each field is fixed by the kind tag in front.
//   event:    [0, actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, payload]
//   snapshot: [1, actorType, actorId, at.hlc.wall, at.hlc.logical, at.origin, at.seq,
//              eventCount, state]
// A payload or state holding a `__proto__` key is written as a JSON string with one more
// field, the flag JSON_VALUE_FLAG, at the end (msgpack's decoder refuses that key, so
// written as msgpack it would make the record unreadable); the Redis store does the same.

const EVENT_TAG = 0
const SNAPSHOT_TAG = 1
const EVENT_FIELDS = 9
const SNAPSHOT_FIELDS = 9
const JSON_VALUE_FLAG = 1
/** The bytes of the key msgpack cannot decode: a body without them needs no further check. */
const PROTO_KEY = Buffer.from('__proto__')

/** A decoded record: an event, or an actor snapshot. */
export type StoredRecord =
  | { readonly kind: 'event'; readonly event: EventRecord }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }

const encoder = new Encoder()
const decoder = new Decoder()

/**
 * The msgpack bytes of an event. The returned view is only valid until the next encode
 * call (it is the encoder's shared buffer): copy it before encoding anything else.
 */
export function encodeEventBody(event: EventRecord): Uint8Array {
  return encodeWithUserValue(
    [
      EVENT_TAG,
      event.actorType,
      event.actorId,
      event.origin,
      event.seq,
      event.hlc.wall,
      event.hlc.logical,
      event.type,
      event.payload,
    ],
    'an event payload',
  )
}

/** The msgpack bytes of a snapshot; valid until the next encode call, like `encodeEventBody`. */
export function encodeSnapshotBody(snapshot: Snapshot): Uint8Array {
  const { at } = snapshot
  return encodeWithUserValue(
    [
      SNAPSHOT_TAG,
      snapshot.actorType,
      snapshot.actorId,
      at.hlc.wall,
      at.hlc.logical,
      at.origin,
      at.seq,
      snapshot.eventCount,
      snapshot.state,
    ],
    'a snapshot state',
  )
}

/**
 * The kind of record a body holds, read from its first two bytes alone (a fixarray and
 * the kind tag): so a record that does not decode can still be told apart.
 */
export function recordKindOf(body: Uint8Array): StoredRecord['kind'] | undefined {
  if (body.length < 2 || (body[0]! & 0xf0) !== 0x90) return undefined
  return body[1] === EVENT_TAG ? 'event' : body[1] === SNAPSHOT_TAG ? 'snapshot' : undefined
}

/** Decodes a record body; throws a plain `Error` saying what is wrong (the caller adds where). */
export function decodeRecordBody(body: Uint8Array): StoredRecord {
  const value = decoder.decode(body)
  if (!Array.isArray(value)) throw new Error('record is not a msgpack array')
  if (value[0] === EVENT_TAG && hasFields(value, EVENT_FIELDS)) {
    const [, actorType, actorId, origin, seq, wall, logical, type] = value as unknown[]
    const payload = userValue(value, EVENT_FIELDS)
    if (
      isName(actorType) &&
      isName(actorId) &&
      isName(origin) &&
      isCount(seq) &&
      seq > 0 &&
      isCount(wall) &&
      isCount(logical) &&
      isName(type)
    )
      return {
        kind: 'event',
        event: { actorType, actorId, origin, seq, hlc: { wall, logical }, type, payload },
      }
    throw new Error('event record has a malformed field')
  }
  if (value[0] === SNAPSHOT_TAG && hasFields(value, SNAPSHOT_FIELDS)) {
    const [, actorType, actorId, wall, logical, origin, seq, eventCount] = value as unknown[]
    const state = userValue(value, SNAPSHOT_FIELDS)
    if (
      isName(actorType) &&
      isName(actorId) &&
      isCount(wall) &&
      isCount(logical) &&
      isName(origin) &&
      isCount(seq) &&
      isCount(eventCount)
    )
      return {
        kind: 'snapshot',
        snapshot: {
          actorType,
          actorId,
          state,
          at: { hlc: { wall, logical }, origin, seq },
          eventCount,
        },
      }
    throw new Error('snapshot record has a malformed field')
  }
  throw new Error(`unknown record kind ${JSON.stringify(value[0])}`)
}

/**
 * The encoder's shared buffer holding `fields`, whose last one is a user value (payload or
 * state): msgpack as it is, or that value as JSON behind the flag when it holds a
 * `__proto__` key. Throws when it holds one and JSON would not give it back exactly.
 */
function encodeWithUserValue(fields: unknown[], what: string): Uint8Array {
  const bytes = encoder.encodeSharedRef(fields)
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(PROTO_KEY) < 0)
    return bytes
  const value = fields.at(-1)
  if (!hasProtoKey(value)) return bytes // only a string that reads `__proto__`
  const json = JSON.stringify(value)
  if (json === undefined || !isDeepStrictEqual(JSON.parse(json), value))
    throw new Error(
      `${what} holds a '__proto__' key, so it is stored as JSON, but it also holds a value ` +
        `JSON cannot carry exactly (binary, a Date, a Map, undefined, ...). Use plain JSON values.`,
    )
  return encoder.encodeSharedRef([...fields.slice(0, -1), json, JSON_VALUE_FLAG])
}

function hasFields(fields: unknown[], count: number): boolean {
  return (
    fields.length === count || (fields.length === count + 1 && fields[count] === JSON_VALUE_FLAG)
  )
}

/** The user value (last field) of a record with `count` fields, parsed if it is flagged JSON. */
function userValue(fields: unknown[], count: number): unknown {
  const value = fields[count - 1]
  if (fields.length === count) return value
  if (typeof value !== 'string') throw new Error('a JSON value is not a string')
  return JSON.parse(value) as unknown
}

/** True when a value holds a `__proto__` key (an object's own key, or a Map's) at any depth. */
function hasProtoKey(value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) continue
    if (Array.isArray(item)) {
      for (const element of item) pending.push(element)
    } else if (item instanceof Map) {
      for (const [key, element] of item as Map<unknown, unknown>) {
        if (key === '__proto__') return true
        pending.push(element)
      }
    } else {
      for (const key of Object.keys(item)) {
        if (key === '__proto__') return true
        pending.push((item as Record<string, unknown>)[key])
      }
    }
  }
  return false
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** A non-negative safe integer (a seq, a count, an offset). */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
