// Events that reach this node from elsewhere: replicated events the fabric hands in (stored
// here, then applied), and in a geo of several nodes the events the others stored, read back
// from the shared store. Both end in the replicas of the actors held here and on the feed.
import { actorAddress, type EventRecord } from '../event.js'
import type { DurableEventFeed } from '../event-feed.js'
import type { AbortOptions } from '../lifecycle.js'
import type { RuntimeComponents } from './options.js'
import type { ResidentCells } from './resident-cells.js'
import type { RuntimeTaps } from './runtime-taps.js'

export class ReplicatedEvents {
  constructor(
    private readonly components: RuntimeComponents,
    private readonly cells: ResidentCells,
    private readonly durable: DurableEventFeed,
    private readonly taps: RuntimeTaps,
  ) {}

  /**
   * Stores replicated events and brings the in-memory replicas of their actors up to date,
   * re-folding an actor when an event sorts before events it has applied.
   * Returns the events that were new to this geo.
   */
  async ingest(
    events: readonly EventRecord[],
    options?: AbortOptions & { from?: string },
  ): Promise<EventRecord[]> {
    if (events.length === 0) return []
    const { hlc, store } = this.components
    // An event stamped beyond the clock's skew bound is not stored (the fabric holds it back
    // and takes it again later); the later seqs of its origin are then gaps, which the store drops.
    const storable = events.every((e) => hlc.withinSkew(e.hlc))
      ? events
      : events.filter((e) => hlc.withinSkew(e.hlc))
    if (storable.length === 0) return []
    let accepted: EventRecord[]
    try {
      accepted = await store.ingest(storable, options)
    } catch (error) {
      // Some may be stored all the same; a retry would then return them as known, so the
      // replicas of these actors reload from the store before their next message.
      for (const event of events) this.cells.get(event.actorType, event.actorId)?.markStale()
      throw error
    }
    if (accepted.length === 0) return accepted
    // Only stored events move the clock: a refused, duplicate or gapped one never does.
    for (const event of accepted) hlc.observe(event.hlc)
    this.durable.publish(
      options?.from === undefined ? { events: accepted } : { events: accepted, from: options.from },
    )
    this.taps.ingested(accepted, options?.from)
    if (!this.components.followsStore) this.toReplicas(accepted)
    return accepted
  }

  /**
   * Events that other nodes of the geo stored (their appends, replicated events one of them
   * ingested) and those this node ingested, as the node reads them back from the shared
   * store: they move the clock, update the replicas held here, and go out on the feed (the
   * fabric of the node that replicates for the geo takes the ones new to it).
   */
  observeStored(events: readonly EventRecord[]): void {
    if (events.length === 0) return
    for (const event of events) this.components.hlc.observe(event.hlc)
    this.durable.publish({ events })
    this.toReplicas(events)
  }

  /** Hands stored events to the replicas of their actors that are held here. */
  private toReplicas(events: readonly EventRecord[]): void {
    const byActor = new Map<string, EventRecord[]>()
    for (const event of events) {
      const address = actorAddress(event.actorType, event.actorId)
      if (!this.cells.at(address)) continue
      const list = byActor.get(address)
      if (list) list.push(event)
      else byActor.set(address, [event])
    }
    for (const [address, list] of byActor) {
      const cell = this.cells.at(address)
      // A full mailbox must not lose a replicated event: the replica reloads from the store
      // (which holds the event already) before it handles its next message.
      if (cell && !cell.mailbox.enqueue({ kind: 'ingest', events: list })) cell.markStale()
    }
  }
}
