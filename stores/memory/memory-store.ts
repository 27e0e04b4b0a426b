import {
  actorAddress,
  compareEventKeys,
  gaplessIngest,
  NotRunningError,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type AbortOptions,
  type EventStoreComponents,
  type ReadActorOptions,
  type Snapshot,
  type VersionVector,
  notRunningMessage,
} from '../../core/index.js'
import { throwIfAborted } from '../../support/abort.js'
import { insertSorted, upperBound } from '../../support/sorted.js'
import { EventColumns } from './event-columns.js'

/** Options of the memory store (none yet: it keeps everything in this process until stopped). */
export type MemoryStoreInit = Record<string, never>

/** Events in this process only: for tests and throwaway runs. Nothing survives a restart. */
export function memoryStore(
  _init: MemoryStoreInit = {},
): (components: EventStoreComponents) => EventStore {
  return () => new MemoryEventStore()
}

/** The events of one actor, as event numbers in merge order. */
interface ActorEvents {
  readonly actorNo: number
  readonly rows: number[]
}

export class MemoryEventStore implements EventStore {
  private readonly events = new EventColumns()
  /** Per origin, its events' numbers by seq (seq n at n - 1). */
  private readonly byOrigin = new Map<string, number[]>()
  private readonly byActor = new Map<string, ActorEvents>()
  private readonly snapshots = new Map<string, Snapshot>()
  private running = false

  async start(): Promise<void> {
    this.running = true
  }

  async stop(): Promise<void> {
    this.running = false
  }

  async append(drafts: readonly EventDraft[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertRunning('append', options)
    // Seqs first (drafts of one origin get consecutive ones), then the events are stored.
    const next = new Map<string, number>()
    const records: EventRecord[] = drafts.map((draft) => {
      const seq = (next.get(draft.origin) ?? this.originLog(draft.origin).length) + 1
      next.set(draft.origin, seq)
      return { ...draft, seq }
    })
    for (const record of records) this.insert(record)
    return records
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertRunning('ingest', options)
    // originLog, not a lookup: an origin met here is in the version vector (at 0) from now on, as before.
    const { accepted } = gaplessIngest(events, (origin) => this.originLog(origin).length)
    for (const event of accepted) this.insert(event)
    return accepted
  }

  async readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readActor', options)
    const rows = this.byActor.get(actorAddress(actorType, actorId))?.rows ?? []
    const after = options?.after
    const from = after ? upperBound(rows, after, (row, key) => this.events.compare(row, key)) : 0
    const records: EventRecord[] = []
    for (let i = from; i < rows.length; i++) records.push(this.events.record(rows[i]!))
    return records
  }

  async readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readOrigin', options)
    const log = this.byOrigin.get(origin) ?? []
    const start = Math.max(0, fromSeq - 1)
    return log.slice(start, start + Math.max(0, limit)).map((row) => this.events.record(row))
  }

  async versionVector(options?: AbortOptions): Promise<VersionVector> {
    this.assertRunning('versionVector', options)
    const vector: VersionVector = {}
    for (const [origin, log] of this.byOrigin) vector[origin] = log.length
    return vector
  }

  async saveSnapshot(snapshot: Snapshot, options?: AbortOptions): Promise<void> {
    this.assertRunning('saveSnapshot', options)
    const address = actorAddress(snapshot.actorType, snapshot.actorId)
    const rows = this.byActor.get(address)?.rows ?? []
    const folded = upperBound(rows, snapshot.at, (row, key) => this.events.compare(row, key))
    if (folded !== snapshot.eventCount) return // folded before an event that has since arrived
    this.snapshots.set(address, snapshot)
  }

  async loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined> {
    this.assertRunning('loadSnapshot', options)
    return this.snapshots.get(actorAddress(actorType, actorId))
  }

  private insert(record: EventRecord): void {
    const address = actorAddress(record.actorType, record.actorId)
    let actor = this.byActor.get(address)
    if (!actor) {
      actor = { actorNo: this.events.actorNumber(record.actorType, record.actorId), rows: [] }
      this.byActor.set(address, actor)
    }
    const row = this.events.add(record, actor.actorNo)
    this.originLog(record.origin).push(row)
    insertSorted(actor.rows, row, (a, b) => this.events.compareRows(a, b))
    const snapshot = this.snapshots.get(address)
    if (snapshot && compareEventKeys(record, snapshot.at) < 0) this.snapshots.delete(address)
  }

  private originLog(origin: string): number[] {
    let log = this.byOrigin.get(origin)
    if (!log) this.byOrigin.set(origin, (log = []))
    return log
  }

  private assertRunning(what: string, options: AbortOptions | undefined): void {
    if (!this.running) throw new NotRunningError(notRunningMessage('the memory store'))
    throwIfAborted(options?.signal, `memory store ${what}`)
  }
}
