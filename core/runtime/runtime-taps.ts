import type { Clock } from '../clock.js'
import { AnywhereError } from '../errors.js'
import { compareEventKeys, type EventRecord } from '../event.js'
import { MAX_TAP_CONCURRENT, type ConcurrentEvent, type TapActor, type Taps } from '../taps.js'
import type { ActorCell } from './actor-cell.js'
import type { RuntimeStats } from './runtime-stats.js'

/**
 * The tap events the runtime publishes, one method per kind. Each builds its tap object
 * (and reads the clock) only when someone listens to that kind: these calls sit on the hot
 * path of every message and fold, and a method call with plain arguments allocates nothing,
 * where a callback that builds the event would cost a closure per call even with nobody
 * listening. The rare steps (evictions, rehydrations, re-folds) are also counted in `stats`.
 */
export class RuntimeTaps {
  constructor(
    private readonly taps: Taps,
    private readonly clock: Clock,
    private readonly stats?: RuntimeStats,
  ) {}

  /**
   * The actor to name on the `message.*` taps of one command, or undefined when nobody
   * listens to any of them: the command then skips them all without asking again.
   */
  messageActor(cell: ActorCell): TapActor | undefined {
    const { taps } = this
    return taps.wants('message.received') ||
      taps.wants('message.handled') ||
      taps.wants('message.failed')
      ? { type: cell.definition.type, id: cell.id }
      : undefined
  }

  /** `message.received`, for an actor from `messageActor`. */
  received(actor: TapActor, command: string, at: number): void {
    this.taps.publish({ kind: 'message.received', at, actor, command })
  }

  /** `message.handled`, for an actor from `messageActor`; `started` is when it was received. */
  handled(actor: TapActor, command: string, started: number, emitted: number): void {
    this.taps.publish({
      kind: 'message.handled',
      at: this.clock.now(),
      actor,
      command,
      durationMs: this.clock.now() - started,
      emitted,
    })
  }

  /** `message.failed`, for an actor from `messageActor`. */
  failed(actor: TapActor, command: string, error: unknown): void {
    const e = error instanceof Error ? error : new AnywhereError(String(error))
    this.taps.publish({
      kind: 'message.failed',
      at: this.clock.now(),
      actor,
      command,
      error: e.name,
      message: e.message,
    })
  }

  /** `message.failed` of a tell its actor's mailbox refused (no handler ran, nobody awaits it). */
  tellRefused(cell: ActorCell, command: string, error: Error): void {
    if (this.taps.wants('message.failed'))
      this.failed({ type: cell.definition.type, id: cell.id }, command, error)
  }

  /** `event.appended`: events a command emitted are durable here. */
  appended(events: readonly EventRecord[]): void {
    if (this.taps.wants('event.appended'))
      this.taps.publish({ kind: 'event.appended', at: this.clock.now(), events })
  }

  /** `event.ingested`: replicated events were new to this geo. */
  ingested(events: readonly EventRecord[], from: string | undefined): void {
    if (this.taps.wants('event.ingested'))
      this.taps.publish({ kind: 'event.ingested', at: this.clock.now(), events, from })
  }

  /**
   * `event.reordered`: a late event made the actor re-fold `refolded` events; `refoldedEvents`
   * are the events read again (in merge order), `stateBefore` the state before the re-fold.
   */
  reordered(
    cell: ActorCell,
    late: EventRecord,
    refoldedEvents: readonly EventRecord[],
    stateBefore: unknown,
  ): void {
    if (this.stats) {
      this.stats.refolds++
      this.stats.refoldedEvents += refoldedEvents.length
    }
    if (!this.taps.wants('event.reordered')) return
    const concurrent: ConcurrentEvent[] = []
    let concurrentCount = 0
    for (const event of refoldedEvents) {
      if (compareEventKeys(event, late) <= 0 || event.origin === late.origin) continue
      concurrentCount++
      if (concurrent.length < MAX_TAP_CONCURRENT)
        concurrent.push({ origin: event.origin, seq: event.seq, hlc: event.hlc, type: event.type })
    }
    this.taps.publish({
      kind: 'event.reordered',
      at: this.clock.now(),
      actor: { type: cell.definition.type, id: cell.id },
      event: late,
      refolded: refoldedEvents.length,
      concurrent,
      concurrentCount,
      stateBefore,
      stateAfter: cell.state,
    })
  }

  /** `event.unapplied`: an event was kept but left out of the state. */
  unapplied(cell: ActorCell, event: EventRecord, reason: string): void {
    if (this.taps.wants('event.unapplied'))
      this.taps.publish({
        kind: 'event.unapplied',
        at: this.clock.now(),
        actor: { type: cell.definition.type, id: cell.id },
        event,
        reason,
      })
  }

  /** `actor.evicted`: the actor left memory. */
  evicted(cell: ActorCell, reason: 'idle' | 'capacity'): void {
    if (this.stats)
      if (reason === 'idle') this.stats.evictedIdle++
      else this.stats.evictedCapacity++
    if (this.taps.wants('actor.evicted'))
      this.taps.publish({
        kind: 'actor.evicted',
        at: this.clock.now(),
        actor: { type: cell.definition.type, id: cell.id },
        reason,
      })
  }

  /** `actor.rehydrated`: the actor was loaded from the store. */
  rehydrated(cell: ActorCell, events: number, fromSnapshot: boolean): void {
    if (this.stats) this.stats.rehydrations++
    if (this.taps.wants('actor.rehydrated'))
      this.taps.publish({
        kind: 'actor.rehydrated',
        at: this.clock.now(),
        actor: { type: cell.definition.type, id: cell.id },
        events,
        fromSnapshot,
      })
  }
}
