import { z } from 'zod'
import { ValidationError } from './errors.js'
import { EVENT_SIG_BYTES, MAX_SIGNED_CHUNK_EVENTS, type EventSig } from './event-seal.js'
import { compareHlc, MAX_HLC_LOGICAL, type Hlc } from './hlc.js'

/**
 * One event as stored and replicated. `(origin, seq)` identifies it; `(hlc, origin, seq)`
 * is its place in the merge order, which is total and the same in every geo.
 */
export interface EventRecord {
  readonly actorType: string
  readonly actorId: string
  /** The node that wrote it. */
  readonly origin: string
  /** Per-origin sequence number: 1, 2, 3, ... with no gaps. */
  readonly seq: number
  readonly hlc: Hlc
  /** The event type, one of the actor type's declared events. */
  readonly type: string
  readonly payload: unknown
  /**
   * On the last event of a signed chunk: its origin's signature over the chunk, the events
   * `sig.from` to `seq` (core/event-seal.ts). Events are signed when their origin sends
   * them; a geo stores the signatures it received so that it can relay the events on.
   */
  readonly sig?: EventSig
}

/** An event before its store has given it a `seq`. */
export type EventDraft = Omit<EventRecord, 'seq' | 'sig'>

/** The place of an event in the merge order. */
export interface EventKey {
  readonly hlc: Hlc
  readonly origin: string
  readonly seq: number
}

/** The merge order: `(hlc, origin, seq)`. Negative when `a` sorts first. */
export function compareEventKeys(a: EventKey, b: EventKey): number {
  const byHlc = compareHlc(a.hlc, b.hlc)
  if (byHlc !== 0) return byHlc
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1
  return a.seq - b.seq
}

/** Orders events by origin, then seq: the order in which a store can take them without gaps. */
export function compareOriginSeq(
  a: { origin: string; seq: number },
  b: { origin: string; seq: number },
): number {
  return a.origin === b.origin ? a.seq - b.seq : a.origin < b.origin ? -1 : 1
}

/** The key of an event (a copy without the payload). */
export function eventKey(event: EventKey): EventKey {
  return { hlc: event.hlc, origin: event.origin, seq: event.seq }
}

/**
 * The geo an origin belongs to. A node's origin starts with its log id: its geo's name, a
 * dash and a random suffix (`eu-1a2b3c4d`, `eu-mem-1a2b3c4d` for a memory store), followed
 * by `.<PeerId>` on a node with a fabric (see node/node.ts and `signedOrigin`).
 * Undefined for an origin not of that form.
 */
export function geoOfOrigin(origin: string): string | undefined {
  return /^([a-z][a-z0-9-]*?)-(?:mem-)?[0-9a-f]{8}(?:\.[1-9A-HJ-NP-Za-km-z]+)?$/.exec(origin)?.[1]
}

/** The address of an actor: its type and id. */
export function actorAddress(actorType: string, actorId: string): string {
  return `${actorType}/${actorId}`
}

/** Longest actor type, actor id, origin or event type accepted anywhere. */
export const MAX_NAME_LENGTH = 256

const name = z.string().min(1).max(MAX_NAME_LENGTH)

/** Largest HLC wall time accepted (ms; about the year 6400): stores keep it in 48 bits. */
export const MAX_HLC_WALL = 2 ** 47
export { MAX_HLC_LOGICAL }

export const hlcSchema = z.object({
  wall: z.number().int().nonnegative().max(MAX_HLC_WALL),
  logical: z.number().int().nonnegative().max(MAX_HLC_LOGICAL),
})

/** A chunk's signature as it arrives: exactly 64 bytes, naming the chunk's first seq. */
export const eventSigSchema = z.object({
  from: z.number().int().positive(),
  bytes: z.instanceof(Uint8Array).refine((bytes) => bytes.byteLength === EVENT_SIG_BYTES, {
    message: `a signature is exactly ${EVENT_SIG_BYTES} bytes`,
  }),
})

/** Validates an event that arrives from outside the process (fabric, store decode). */
export const eventRecordSchema = z
  .object({
    actorType: name,
    actorId: name,
    origin: name,
    seq: z.number().int().positive(),
    hlc: hlcSchema,
    type: name,
    payload: z.unknown(),
    sig: eventSigSchema.optional(),
  })
  .refine(
    (event) =>
      event.sig === undefined ||
      (event.sig.from <= event.seq && event.seq - event.sig.from < MAX_SIGNED_CHUNK_EVENTS),
    {
      message: `a signature covers 1 to ${MAX_SIGNED_CHUNK_EVENTS} events ending at its own`,
      path: ['sig'],
    },
  )

/** Largest payload an event may carry, as JSON characters (every store and the fabric carry it). */
export const MAX_EVENT_PAYLOAD_BYTES = 1024 * 1024
/** Deepest nesting of objects and arrays in a payload (msgpack decoders stop at 100). */
export const MAX_PAYLOAD_DEPTH = 32

/**
 * Throws a ValidationError when a payload is one that some store or the fabric could not
 * carry: a `__proto__` key (msgpack decoders refuse it, so one such event would make a log
 * unreadable), nesting deeper than MAX_PAYLOAD_DEPTH, or more than MAX_EVENT_PAYLOAD_BYTES.
 * Checked once, when a handler emits, so no store ever acknowledges such an event.
 */
export function assertStorablePayload(payload: unknown, where: string): void {
  // The size is counted as the walk goes (about the JSON length: strings, keys, 8 per scalar).
  let size = 0
  const pending: Array<[unknown, number]> = [[payload, 1]]
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!
    if (typeof value === 'string') size += value.length + 2
    else if (typeof value !== 'object' || value === null) size += 8
    if (size > MAX_EVENT_PAYLOAD_BYTES)
      throw new ValidationError(
        `${where}: a payload may be at most ${MAX_EVENT_PAYLOAD_BYTES} bytes as JSON`,
        { issues: [{ path: [], message: 'too large' }] },
      )
    if (typeof value !== 'object' || value === null) continue
    if (depth > MAX_PAYLOAD_DEPTH)
      throw new ValidationError(
        `${where}: a payload may nest at most ${MAX_PAYLOAD_DEPTH} levels`,
        { issues: [{ path: [], message: 'too deep' }] },
      )
    if (Array.isArray(value)) {
      for (const item of value) pending.push([item, depth + 1])
      continue
    }
    for (const key of Object.keys(value)) {
      size += key.length + 3
      if (key === '__proto__')
        throw new ValidationError(`${where}: a payload may not hold a '__proto__' key`, {
          issues: [{ path: [key], message: "the key '__proto__' is not allowed" }],
        })
      pending.push([(value as Record<string, unknown>)[key], depth + 1])
    }
  }
}
