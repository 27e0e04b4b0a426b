import type { ErasedActorDefinition } from '../actor.js'
import { compareEventKeys, eventKey, type EventKey, type EventRecord } from '../event.js'
import {
  DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  IdempotencyLedger,
  KEYED_EVENT,
} from './idempotency-ledger.js'

/**
 * What `applyEvent` returns for an event it leaves out of the state, with why. A class
 * rather than a `{ state, reason }` result: folding an event that applies (nearly every
 * one) then allocates nothing, and no actor state can be an instance of it.
 */
export class UnappliedEvent {
  constructor(readonly reason: string) {}
}

/**
 * One step of the fold, pure: the state after `event`, or an `UnappliedEvent` when this
 * node cannot apply it. Only events this process has `justEmitted` were validated (at emit);
 * every other one, whatever its origin (read back from a store, replicated, recovered from
 * a peer), may come from another version of the actor or from a hostile writer, so its
 * type and payload are checked against this node's schemas first. An `apply` that throws or returns undefined
 * leaves the state as it was: the event stays stored (it replicates on) and is reported.
 */
export function applyEvent(
  definition: ErasedActorDefinition,
  state: unknown,
  event: EventRecord,
  justEmitted = false,
): unknown {
  if (!justEmitted) {
    const schema = definition.events[event.type]
    if (!schema)
      return new UnappliedEvent(
        `this node's '${definition.type}' declares no event '${event.type}'`,
      )
    if (!schema.safeParse(event.payload).success)
      return new UnappliedEvent(`its payload does not match this node's schema of '${event.type}'`)
  }
  try {
    const next = definition.apply(state, event)
    return next === undefined
      ? new UnappliedEvent(`apply returned undefined for '${event.type}'`)
      : next
  } catch (error) {
    return new UnappliedEvent(
      `apply threw: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/** The fold of a set of events: the state, and where it stands in the actor's history. */
export interface Folded {
  readonly state: unknown
  /** How many events were folded (applied or not). */
  readonly count: number
  /** The key of the last event in merge order, if any. */
  readonly last: EventKey | undefined
  /** The events left out of the state, in merge order, with why. */
  readonly unapplied: ReadonlyArray<{ readonly event: EventRecord; readonly reason: string }>
}

/**
 * The fold at the centre of the merge, pure: `events` sorted by merge order `(hlc, origin,
 * seq)` and applied one by one from `state`, the idempotency ledger deciding first which
 * events a second run of a key leaves out. The same set of events gives the same result in
 * every geo, whatever order they arrived in. The runtime folds incrementally with the same
 * two steps (re-folding from a checkpoint when an event arrives late).
 */
export function foldEvents(
  definition: ErasedActorDefinition,
  state: unknown,
  events: readonly EventRecord[],
  justEmitted = false,
): Folded {
  const unapplied: Array<{ event: EventRecord; reason: string }> = []
  let last: EventKey | undefined
  let ledger: IdempotencyLedger | undefined
  for (const event of [...events].sort(compareEventKeys)) {
    last = eventKey(event)
    if (ledger || event.type === KEYED_EVENT) {
      ledger ??= new IdempotencyLedger({
        retentionMs: DEFAULT_IDEMPOTENCY_RETENTION_MS,
        keysPerActor: DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
      })
      const step = ledger.step(event)
      if (step === 'recorded') continue
      if (step !== 'apply') {
        unapplied.push({ event, reason: `idempotency ledger: ${step}` })
        continue
      }
    }
    const next = applyEvent(definition, state, event, justEmitted)
    if (next instanceof UnappliedEvent) unapplied.push({ event, reason: next.reason })
    else state = next
  }
  return { state, count: events.length, last, unapplied }
}
