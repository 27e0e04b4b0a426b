// An event as the fabric carries it (protocol 3): the msgpack array
// `[actorType, actorId, origin, seq, hlc.wall, hlc.logical, type, payload]`, the very bytes a
// chunk's signature covers (core's `sealDigest`), so a sender encodes each event once, for the
// frame and the signature, and a receiver hashes the bytes it received instead of encoding
// the decoded events again. Signatures travel beside the events, in the frame's `sigs`.
import { createHash } from 'node:crypto'
import { Encoder } from '@msgpack/msgpack'
import { z } from 'zod'
import {
  EVENT_SIG_BYTES,
  FrameError,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
  MAX_NAME_LENGTH,
  MAX_SIGNED_CHUNK_EVENTS,
  sealDigest,
  type EventRecord,
  type EventSig,
} from '../../core/index.js'
import { holdsProtoKey, mentionsProtoKey } from '../../support/value-codec.js'

/** Elements of an event's wire form. */
export const EVENT_WIRE_FIELDS = 8

/** Events whose wire bytes are kept for reuse: every peer sent the same new events frames the same bytes. */
export const EVENT_WIRE_CACHE_ENTRIES = 16_384

const name = z.string().min(1).max(MAX_NAME_LENGTH)

/** One event as it arrives: validated field by field, as `eventRecordSchema` does for a record. */
export const eventWireSchema = z
  .tuple([
    name,
    name,
    name,
    z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    z.number().int().nonnegative().max(MAX_HLC_WALL),
    z.number().int().nonnegative().max(MAX_HLC_LOGICAL),
    name,
    z.unknown(),
  ])
  .transform(([actorType, actorId, origin, seq, wall, logical, type, payload]): EventRecord => ({
    actorType,
    actorId,
    origin,
    seq,
    hlc: { wall, logical },
    type,
    payload,
  }))

/** One signature beside the events: `[index of the event that carries it, the chunk's first seq, 64 bytes]`. */
export const sigWireSchema = z.tuple([
  z.number().int().nonnegative(),
  z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  z.instanceof(Uint8Array).refine((bytes) => bytes.byteLength === EVENT_SIG_BYTES, {
    message: `a signature is exactly ${EVENT_SIG_BYTES} bytes`,
  }),
])

export type SigWire = readonly [index: number, from: number, bytes: Uint8Array]

/**
 * The events of a frame with their signatures attached to the events that carry them, or
 * why not: a signature must name an event of the frame, at most one per event, and cover
 * 1 to MAX_SIGNED_CHUNK_EVENTS seqs ending at that event's.
 */
export function attachSigs(events: EventRecord[], sigs: readonly SigWire[]): string | undefined {
  const seen = new Set<number>()
  for (const [index, from, bytes] of sigs) {
    const event = events[index]
    if (!event) return `a signature names event ${index} of a frame of ${events.length}`
    if (seen.has(index)) return `two signatures name event ${index}`
    seen.add(index)
    if (from > event.seq || event.seq - from >= MAX_SIGNED_CHUNK_EVENTS)
      return `a signature covers 1 to ${MAX_SIGNED_CHUNK_EVENTS} events ending at its own`
    events[index] = { ...event, sig: { from, bytes } }
  }
  return undefined
}

/**
 * The wire bytes of events, encoded once per event object and kept (a bounded number, the
 * oldest forgotten first): the live path offers the same objects to every peer's sender.
 */
export class EventWireCache {
  // Two generations, the older dropped whole when the newer fills: O(1) per event. (Evicting
  // a Map's oldest entry one at a time walks the holes deletes leave at its head.)
  private recent = new Map<EventRecord, Uint8Array>()
  private older = new Map<EventRecord, Uint8Array>()
  private readonly encoder: Encoder

  /** `maxDepth`: the msgpack depth an event's array may reach (the frame's limit less its envelope). */
  constructor(
    maxDepth: number,
    private readonly entries = EVENT_WIRE_CACHE_ENTRIES,
  ) {
    this.encoder = new Encoder({ ignoreUndefined: true, maxDepth })
  }

  /**
   * The event's wire bytes. Throws `FrameError` when no peer could decode them (nested
   * deeper than a frame carries, a `__proto__` key in the payload).
   */
  bytesOf(event: EventRecord): Uint8Array {
    const cached = this.recent.get(event) ?? this.older.get(event)
    if (cached) return cached
    let bytes: Uint8Array
    try {
      bytes = this.encoder.encode([
        event.actorType,
        event.actorId,
        event.origin,
        event.seq,
        event.hlc.wall,
        event.hlc.logical,
        event.type,
        event.payload,
      ])
    } catch (error) {
      throw new FrameError(
        `cannot frame event ${event.origin}:${event.seq}: ${(error as Error).message}`,
        { cause: error },
      )
    }
    // msgpack decoders refuse a map key `__proto__`: a frame holding one would be rejected by
    // every peer. The stores keep such a value as JSON; a frame cannot without a new wire format.
    if (mentionsProtoKey(bytes) && holdsProtoKey(event.payload))
      throw new FrameError(
        `cannot frame event ${event.origin}:${event.seq}: its payload holds a '__proto__' key, which msgpack decoders refuse`,
      )
    if (this.recent.size >= this.entries / 2) {
      this.older = this.recent
      this.recent = new Map()
    }
    this.recent.set(event, bytes)
    return bytes
  }

  /**
   * `sealDigest(chunk)` from the wire bytes (the same digest, without encoding an event twice);
   * an event that cannot be framed is digested as core does, so signing never fails.
   */
  digestOf(chunk: readonly EventRecord[]): Uint8Array {
    const hash = createHash('sha256')
    try {
      for (const event of chunk) hash.update(this.bytesOf(event))
    } catch {
      return sealDigest(chunk)
    }
    return hash.digest()
  }
}

/** The sha256 of a chunk from the wire bytes its events arrived as (equal to `sealDigest` of the decoded events). */
export function wireDigest(parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** The signatures of `events` as the frame carries them. */
export function sigsOf(events: readonly EventRecord[]): SigWire[] {
  const sigs: SigWire[] = []
  events.forEach((event, index) => {
    const sig: EventSig | undefined = event.sig
    if (sig) sigs.push([index, sig.from, sig.bytes])
  })
  return sigs
}
