import { EVENT_SIG_BYTES, type EventRecord, type Snapshot } from '../../core/index.js'
import { hasValueFields, readUserValue, valueCodec } from '../../support/value-codec.js'

// The msgpack body of one record. Arrays, not maps: field names would double the size of
// small events, and the position of each field is fixed by the kind tag in front.
//   event:    [0, actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, payload]
//   signed:   [2, actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, sig.from,
//              sig.bytes, payload]   (the last event of a signed chunk, core/event-seal.ts)
//   snapshot: [1, actorType, actorId, at.hlc.wall, at.hlc.logical, at.origin, at.seq,
//              eventCount, state]
//   snapshot with idempotency keys: [3, actorType, actorId, at.hlc.wall, at.hlc.logical,
//              at.origin, at.seq, eventCount, ledger (bytes), state]
// A payload or state holding a `__proto__` key is written as a JSON string with one more
// field, a flag, at the end (msgpack's decoder refuses that key, so written as msgpack it
// would make the record unreadable): support/value-codec.ts, shared with the Redis store.

const EVENT_TAG = 0
const SNAPSHOT_TAG = 1
const SIGNED_EVENT_TAG = 2
const LEDGER_SNAPSHOT_TAG = 3
const EVENT_FIELDS = 9
const SIGNED_EVENT_FIELDS = 11
const SNAPSHOT_FIELDS = 9
const LEDGER_SNAPSHOT_FIELDS = 10
/** The user value (payload or state) is the last field of every kind. */
const EVENT_VALUE_AT = EVENT_FIELDS - 1
const SIGNED_EVENT_VALUE_AT = SIGNED_EVENT_FIELDS - 1
const SNAPSHOT_VALUE_AT = SNAPSHOT_FIELDS - 1
const LEDGER_SNAPSHOT_VALUE_AT = LEDGER_SNAPSHOT_FIELDS - 1

/** A decoded record: an event, or an actor snapshot. */
export type StoredRecord =
  | { readonly kind: 'event'; readonly event: EventRecord }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }

const codec = valueCodec()

/**
 * The msgpack bytes of an event. The returned view is only valid until the next encode
 * call (it is the encoder's shared buffer): copy it before encoding anything else.
 */
export function encodeEventBody(event: EventRecord): Uint8Array {
  const { sig } = event
  if (sig)
    return codec.encodeFields(
      [
        SIGNED_EVENT_TAG,
        event.actorType,
        event.actorId,
        event.origin,
        event.seq,
        event.hlc.wall,
        event.hlc.logical,
        event.type,
        sig.from,
        sig.bytes,
        event.payload,
      ],
      SIGNED_EVENT_VALUE_AT,
      'an event payload',
    )
  return codec.encodeFields(
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
    EVENT_VALUE_AT,
    'an event payload',
  )
}

/** The msgpack bytes of a snapshot; valid until the next encode call, like `encodeEventBody`. */
export function encodeSnapshotBody(snapshot: Snapshot): Uint8Array {
  const { at, ledger } = snapshot
  if (ledger)
    return codec.encodeFields(
      [
        LEDGER_SNAPSHOT_TAG,
        snapshot.actorType,
        snapshot.actorId,
        at.hlc.wall,
        at.hlc.logical,
        at.origin,
        at.seq,
        snapshot.eventCount,
        ledger,
        snapshot.state,
      ],
      LEDGER_SNAPSHOT_VALUE_AT,
      'a snapshot state',
    )
  return codec.encodeFields(
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
    SNAPSHOT_VALUE_AT,
    'a snapshot state',
  )
}

/**
 * The kind of record a body holds, read from its first two bytes alone (a fixarray and
 * the kind tag): so a record that does not decode can still be told apart.
 */
export function recordKindOf(body: Uint8Array): StoredRecord['kind'] | undefined {
  return body.length < 2 ? undefined : recordKindAt(body, 0)
}

/** `recordKindOf` for the body starting at `at` of `bytes` (at least 2 bytes), with no view made. */
export function recordKindAt(bytes: Uint8Array, at: number): StoredRecord['kind'] | undefined {
  if ((bytes[at]! & 0xf0) !== 0x90) return undefined
  const tag = bytes[at + 1]
  if (tag === EVENT_TAG || tag === SIGNED_EVENT_TAG) return 'event'
  return tag === SNAPSHOT_TAG || tag === LEDGER_SNAPSHOT_TAG ? 'snapshot' : undefined
}

/** Decodes a record body; throws a plain `Error` saying what is wrong (the caller adds where). */
export function decodeRecordBody(body: Uint8Array): StoredRecord {
  const value = codec.decode(body)
  if (!Array.isArray(value)) throw new Error('record is not a msgpack array')
  const signed = value[0] === SIGNED_EVENT_TAG
  if (
    signed
      ? hasValueFields(value, SIGNED_EVENT_FIELDS)
      : value[0] === EVENT_TAG && hasValueFields(value, EVENT_FIELDS)
  ) {
    const [, actorType, actorId, origin, seq, wall, logical, type, from, bytes] = value as unknown[]
    const payload = signed
      ? readUserValue(value, SIGNED_EVENT_FIELDS, SIGNED_EVENT_VALUE_AT)
      : readUserValue(value, EVENT_FIELDS, EVENT_VALUE_AT)
    if (
      isName(actorType) &&
      isName(actorId) &&
      isName(origin) &&
      isCount(seq) &&
      seq > 0 &&
      isCount(wall) &&
      isCount(logical) &&
      isName(type)
    ) {
      const event: EventRecord = {
        actorType,
        actorId,
        origin,
        seq,
        hlc: { wall, logical },
        type,
        payload,
      }
      if (!signed) return { kind: 'event', event }
      if (
        isCount(from) &&
        from > 0 &&
        from <= seq &&
        bytes instanceof Uint8Array &&
        bytes.byteLength === EVENT_SIG_BYTES
      )
        // A copy of the signature: the decoder returns a view of a read buffer.
        return { kind: 'event', event: { ...event, sig: { from, bytes: bytes.slice() } } }
    }
    throw new Error(`${signed ? 'signed ' : ''}event record has a malformed field`)
  }
  const withLedger = value[0] === LEDGER_SNAPSHOT_TAG
  if (
    withLedger
      ? hasValueFields(value, LEDGER_SNAPSHOT_FIELDS) && value[8] instanceof Uint8Array
      : value[0] === SNAPSHOT_TAG && hasValueFields(value, SNAPSHOT_FIELDS)
  ) {
    const [, actorType, actorId, wall, logical, origin, seq, eventCount, ledger] =
      value as unknown[]
    const state = withLedger
      ? readUserValue(value, LEDGER_SNAPSHOT_FIELDS, LEDGER_SNAPSHOT_VALUE_AT)
      : readUserValue(value, SNAPSHOT_FIELDS, SNAPSHOT_VALUE_AT)
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
          // A copy: the decoder returns a view of a read buffer.
          ...(withLedger ? { ledger: (ledger as Uint8Array).slice() } : {}),
        },
      }
    throw new Error('snapshot record has a malformed field')
  }
  throw new Error(`unknown record kind ${JSON.stringify(value[0])}`)
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** A non-negative safe integer (a seq, a count, an offset). */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
