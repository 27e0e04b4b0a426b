// Events signed by their origin, a chunk at a time. One Ed25519 signature covers a chunk:
// up to MAX_SIGNED_CHUNK_EVENTS consecutive events of one origin. The signature rides on
// the chunk's LAST event and names the chunk's first seq. An origin names its own public
// key (`<log id>.<PeerId>`, and a PeerId embeds the key), so any geo can verify an event it
// got through a relay, never having seen its origin. This module holds no key: it cuts and
// digests; the fabric signs what its node wrote when it sends it and verifies what it
// receives (transports/libp2p/event-signing.ts).
import { createHash } from 'node:crypto'
import { Encoder } from '@msgpack/msgpack'
import type { EventRecord } from './event.js'

/** Most events one signature covers (the most one fabric frame carries). */
export const MAX_SIGNED_CHUNK_EVENTS = 1024

/** Bytes of an Ed25519 signature. */
export const EVENT_SIG_BYTES = 64

/** The signature of a chunk, carried by its last event. */
export interface EventSig {
  /** The seq of the chunk's first event (the event that carries the sig is its last). */
  readonly from: number
  /** Ed25519 over `sealDigest` of the chunk's events, by the key the origin names. */
  readonly bytes: Uint8Array
}

// Undefined map values are left out, as the fabric's frames leave them out: `{ a: undefined }`
// and `{}` are the same event wherever it travels. The depth limit is far above what any
// store or frame carries (about 100 levels): a digest never fails on an event that exists.
const encoder = new Encoder({ ignoreUndefined: true, maxDepth: 1_000 })

/**
 * The sha256 of a chunk: the concatenated msgpack of each event's
 * `[actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, payload]`. msgpack keeps
 * key order and every store gives payloads back exactly, so any geo computes the same bytes.
 */
export function sealDigest(events: readonly EventRecord[]): Uint8Array {
  const hash = createHash('sha256')
  for (const event of events)
    hash.update(
      encoder.encodeSharedRef([
        event.actorType,
        event.actorId,
        event.origin,
        event.seq,
        event.hlc.wall,
        event.hlc.logical,
        event.type,
        event.payload,
      ]),
    )
  return hash.digest()
}

/**
 * The PeerId an origin `<log id>.<PeerId>` names (the text after its last dot), or
 * undefined when it names none (an origin written before events were signed, or by a node
 * without a fabric: its events stay where they were written).
 */
export function originPeerId(origin: string): string | undefined {
  const dot = origin.lastIndexOf('.')
  if (dot <= 0 || dot === origin.length - 1) return undefined
  return origin.slice(dot + 1)
}

/** The origin a node writes under: the id of its log and the PeerId that signs it. */
export function signedOrigin(logId: string, peerId: string): string {
  return `${logId}.${peerId}`
}
