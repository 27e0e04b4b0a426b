import { compareEventKeys, type EventRecord } from '../event.js'
import type { ActorCell } from './actor-cell.js'
import { applyEvent, UnappliedEvent } from './fold.js'
import { IdempotencyLedger, KEYED_EVENT, type LedgerSettings } from './idempotency-ledger.js'
import type { RuntimeComponents } from './options.js'
import type { RuntimeTaps } from './runtime-taps.js'

/**
 * The merge engine of DESIGN.md, applied to the actors in memory: folds new events into a
 * replica, re-folds from a checkpoint when an event sorts before what it has folded,
 * rehydrates from the latest snapshot plus the events after it, and persists snapshots
 * every `snapshotEvery` events. Each step is the pure `applyEvent` of fold.ts.
 */
export class ReplicaEngine {
  constructor(
    private readonly components: Pick<RuntimeComponents, 'store' | 'hlc' | 'logger' | 'origin'>,
    private readonly taps: RuntimeTaps,
    private readonly snapshotEvery: number,
    private readonly ledgerSettings: LedgerSettings,
  ) {}

  /**
   * Folds events a command of this actor has just emitted (validated at emit), re-folding
   * from the store if any sorts before its last.
   */
  fold(cell: ActorCell, events: EventRecord[]): void | Promise<void> {
    let first = events[0]!
    for (const e of events) if (compareEventKeys(e, first) < 0) first = e
    if (cell.last && compareEventKeys(first, cell.last) < 0) return this.refold(cell, first)
    if (events.length > 1) events = [...events].sort(compareEventKeys)
    for (const event of events) this.applyOne(cell, event, true)
  }

  /**
   * Folds events a command has just emitted, before their append returns (pipelined
   * persistence): they sort after everything folded (the caller checked), so no re-fold.
   */
  foldEmitted(cell: ActorCell, events: readonly EventRecord[]): void {
    for (const event of events) this.applyOne(cell, event, true)
  }

  /**
   * Folds replicated events the store has just taken. An event that sorts after everything
   * folded is new and is applied. One that sorts before the last folded event is either late
   * or was already folded by a load that read the store after it took the event; either way
   * a re-fold from before it (which reads the store) is right, so it is scheduled.
   */
  foldIngested(cell: ActorCell, events: EventRecord[]): void {
    let first = events[0]!
    for (const e of events) if (compareEventKeys(e, first) < 0) first = e
    // Late events wait for one re-fold on next use; the store holds them (and any that follow).
    if (cell.lateFrom) {
      if (compareEventKeys(first, cell.lateFrom) < 0) cell.lateFrom = first
      return
    }
    if (cell.last && compareEventKeys(first, cell.last) <= 0) {
      cell.lateFrom = first
      return
    }
    if (events.length > 1) events = [...events].sort(compareEventKeys)
    for (const event of events) this.applyOne(cell, event)
  }

  /** Re-folds the actor from the newest checkpoint before `late` (or from scratch). */
  async refold(cell: ActorCell, late: EventRecord): Promise<void> {
    const base = cell.checkpointBefore(late)
    // A reference, not a copy: apply is pure, so the state it points to never changes.
    const stateBefore = cell.state
    const events = await this.components.store.readActor(
      cell.definition.type,
      cell.id,
      base ? { after: base.at } : {},
    )
    cell.rewind(base)
    for (const event of events) {
      // A command on this actor must sort after every event it has read, whatever the wall clock says.
      this.observeStored(event)
      this.applyOne(cell, event)
    }
    this.taps.reordered(cell, late, events, stateBefore)
  }

  /** Loads the actor from its latest snapshot and the events stored after it. */
  async rehydrate(cell: ActorCell): Promise<void> {
    const { store } = this.components
    const { type } = cell.definition
    let snapshot = await store.loadSnapshot(type, cell.id)
    let ledger: IdempotencyLedger | undefined
    try {
      if (snapshot?.ledger !== undefined)
        ledger = IdempotencyLedger.fromSnapshot(this.ledgerSettings, snapshot.ledger)
    } catch (error) {
      // Derived data: without it, the actor folds its whole history instead.
      this.components.logger.warn('ignoring a snapshot whose idempotency keys do not decode', {
        actor: cell.address,
        error,
      })
      snapshot = undefined
    }
    const events = await store.readActor(type, cell.id, snapshot ? { after: snapshot.at } : {})
    const base = snapshot
      ? { at: snapshot.at, state: snapshot.state, count: snapshot.eventCount, ledger }
      : undefined
    cell.checkpoints = base ? [base] : []
    cell.rewind(base)
    for (const event of events) {
      // A command on this actor must sort after every event it has read, whatever the wall clock says.
      this.observeStored(event)
      this.applyOne(cell, event)
    }
    cell.sinceSnapshot = events.length
    if (snapshot || events.length > 0)
      this.taps.rehydrated(cell, events.length, snapshot !== undefined)
  }

  /** Persists the actor's state as a snapshot if it folded events since the last one. */
  async persistSnapshot(cell: ActorCell): Promise<void> {
    // A state waiting for a re-fold is not the fold of the events up to its last key.
    // Nor is a state holding events whose appends are still under way.
    if (cell.sinceSnapshot === 0 || !cell.last || cell.lateFrom || cell.inFlight > 0) return
    const pending = cell.sinceSnapshot
    cell.sinceSnapshot = 0
    try {
      await this.components.store.saveSnapshot({
        actorType: cell.definition.type,
        actorId: cell.id,
        state: cell.state,
        at: cell.last,
        eventCount: cell.count,
        ...(cell.ledger ? { ledger: cell.ledger.toSnapshot() } : {}),
      })
      cell.snapshotFailures = 0
    } catch (error) {
      cell.snapshotFailures++
      cell.sinceSnapshot += pending
      this.components.logger.warn(
        'could not persist a snapshot; the actor will re-fold from older events',
        { actor: cell.address, error },
      )
    }
  }

  private applyOne(cell: ActorCell, event: EventRecord, justEmitted = false): void {
    // Only an actor that has seen an idempotency key pays for the ledger.
    const step =
      cell.ledger || event.type === KEYED_EVENT
        ? (cell.ledger ??= new IdempotencyLedger(this.ledgerSettings)).step(event)
        : 'apply'
    if (step === 'apply') {
      const next = applyEvent(cell.definition, cell.state, event, justEmitted)
      if (next instanceof UnappliedEvent) this.reportUnapplied(cell, event, next.reason)
      else cell.state = next
    } else if (step !== 'recorded') this.reportUnapplied(cell, event, LEDGER_REASONS[step])
    cell.advance(event)
    // After failed attempts, wait twice as many events each time before trying again.
    if (cell.sinceSnapshot >= this.snapshotEvery << Math.min(cell.snapshotFailures, 10))
      void this.persistSnapshot(cell)
  }

  private reportUnapplied(cell: ActorCell, event: EventRecord, reason: string): void {
    this.components.logger.warn('an event was kept but not applied', {
      actor: cell.address,
      event: `${event.origin}:${event.seq}`,
      reason,
    })
    this.taps.unapplied(cell, event, reason)
  }

  /**
   * Moves the clock past a stored event: this node's own events unconditionally (its next
   * event must sort after them), others within the skew bound.
   */
  private observeStored(event: EventRecord): void {
    if (event.origin === this.components.origin) this.components.hlc.observeOwn(event.hlc)
    else this.components.hlc.observe(event.hlc)
  }
}

/** Why the ledger keeps an event out of the state. */
const LEDGER_REASONS = {
  invalid: `its ${KEYED_EVENT} payload is not valid`,
  duplicate: `a second run of an idempotency key that another origin ran first in merge order`,
  'passed-over': `its command was a second run of an idempotency key (passed over)`,
} as const
