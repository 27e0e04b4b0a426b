import { Decoder, Encoder } from '@msgpack/msgpack'
import type { EventRecord, Snapshot } from '../../core/index.js'

// The msgpack body of one record. Arrays, not maps: field names would double the size of
// small events, and the position of each field is fixed by the kind tag in front.
//   event:    [0, actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, payload]
//   snapshot: [1, actorType, actorId, at.hlc.wall, at.hlc.logical, at.origin, at.seq,
//              eventCount, seen, state]

const EVENT_TAG = 0
const SNAPSHOT_TAG = 1

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
  return encoder.encodeSharedRef([
    EVENT_TAG,
    event.actorType,
    event.actorId,
    event.origin,
    event.seq,
    event.hlc.wall,
    event.hlc.logical,
    event.type,
    event.payload,
  ])
}

/** The msgpack bytes of a snapshot; valid until the next encode call, like `encodeEventBody`. */
export function encodeSnapshotBody(snapshot: Snapshot): Uint8Array {
  const { at } = snapshot
  return encoder.encodeSharedRef([
    SNAPSHOT_TAG,
    snapshot.actorType,
    snapshot.actorId,
    at.hlc.wall,
    at.hlc.logical,
    at.origin,
    at.seq,
    snapshot.eventCount,
    snapshot.seen,
    snapshot.state,
  ])
}

/** Decodes a record body; throws a plain `Error` saying what is wrong (the caller adds where). */
export function decodeRecordBody(body: Uint8Array): StoredRecord {
  const value = decoder.decode(body)
  if (!Array.isArray(value)) throw new Error('record is not a msgpack array')
  if (value[0] === EVENT_TAG && value.length === 9) {
    const [, actorType, actorId, origin, seq, wall, logical, type, payload] = value as unknown[]
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
  if (value[0] === SNAPSHOT_TAG && value.length === 10) {
    const [, actorType, actorId, wall, logical, origin, seq, eventCount, seen, state] =
      value as unknown[]
    if (
      isName(actorType) &&
      isName(actorId) &&
      isCount(wall) &&
      isCount(logical) &&
      isName(origin) &&
      isCount(seq) &&
      isCount(eventCount) &&
      isSeen(seen)
    )
      return {
        kind: 'snapshot',
        snapshot: {
          actorType,
          actorId,
          state,
          at: { hlc: { wall, logical }, origin, seq },
          eventCount,
          seen,
        },
      }
    throw new Error('snapshot record has a malformed field')
  }
  throw new Error(`unknown record kind ${JSON.stringify(value[0])}`)
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isSeen(value: unknown): value is Record<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  return Object.values(value).every(isCount)
}
