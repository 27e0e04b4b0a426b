import { z } from 'zod'
import { ValidationError } from './errors.js'
import { compareHlc, type Hlc } from './hlc.js'

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
}

/** An event before its store has given it a `seq`. */
export type EventDraft = Omit<EventRecord, 'seq'>

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

/** The key of an event (a copy without the payload). */
export function eventKey(event: EventKey): EventKey {
  return { hlc: event.hlc, origin: event.origin, seq: event.seq }
}

/** The address of an actor: its type and id. */
export function actorAddress(actorType: string, actorId: string): string {
  return `${actorType}/${actorId}`
}

/** Longest actor type, actor id, origin or event type accepted anywhere. */
export const MAX_NAME_LENGTH = 256

const name = z.string().min(1).max(MAX_NAME_LENGTH)

export const hlcSchema = z.object({
  wall: z.number().int().nonnegative(),
  logical: z.number().int().nonnegative(),
})

/** Validates an event that arrives from outside the process (fabric, store decode). */
export const eventRecordSchema = z.object({
  actorType: name,
  actorId: name,
  origin: name,
  seq: z.number().int().positive(),
  hlc: hlcSchema,
  type: name,
  payload: z.unknown(),
})

/**
 * Throws when a payload holds a key that stores and the fabric cannot carry: `__proto__`
 * (msgpack decoders refuse it, so one such event would make a log unreadable). Checked
 * once, when a handler emits, so no store ever holds such an event.
 */
export function assertStorablePayload(payload: unknown, where: string): void {
  const pending: unknown[] = [payload]
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value !== 'object' || value === null) continue
    if (Array.isArray(value)) {
      for (const item of value) pending.push(item)
      continue
    }
    for (const key of Object.keys(value)) {
      if (key === '__proto__')
        throw new ValidationError(`${where}: a payload may not hold a '__proto__' key`, [
          { path: [key], message: "the key '__proto__' is not allowed" },
        ])
      pending.push((value as Record<string, unknown>)[key])
    }
  }
}
