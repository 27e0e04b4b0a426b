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

/** Options of the memory store (none yet: it keeps everything in this process until stopped). */
export type MemoryStoreInit = Record<string, never>

/** Events in this process only: for tests and throwaway runs. Nothing survives a restart. */
export function memoryStore(
  _init: MemoryStoreInit = {},
): (components: EventStoreComponents) => EventStore {
  return () => new MemoryEventStore()
}

export class MemoryEventStore implements EventStore {
  private readonly byOrigin = new Map<string, EventRecord[]>()
  private readonly byActor = new Map<string, EventRecord[]>()
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
    return drafts.map((draft) => {
      const log = this.originLog(draft.origin)
      const record: EventRecord = { ...draft, seq: log.length + 1 }
      this.insert(log, record)
      return record
    })
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertRunning('ingest', options)
    // originLog, not a lookup: an origin met here is in the version vector (at 0) from now on, as before.
    const { accepted } = gaplessIngest(events, (origin) => this.originLog(origin).length)
    for (const event of accepted) this.insert(this.originLog(event.origin), event)
    return accepted
  }

  async readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readActor', options)
    const list = this.byActor.get(actorAddress(actorType, actorId)) ?? []
    return options?.after
      ? list.slice(upperBound(list, options.after, compareEventKeys))
      : [...list]
  }

  async readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readOrigin', options)
    const log = this.byOrigin.get(origin) ?? []
    return log.slice(Math.max(0, fromSeq - 1), Math.max(0, fromSeq - 1) + limit)
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
    const list = this.byActor.get(address) ?? []
    if (upperBound(list, snapshot.at, compareEventKeys) !== snapshot.eventCount) return // folded before an event that has since arrived
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

  private insert(log: EventRecord[], record: EventRecord): void {
    log.push(record)
    const address = actorAddress(record.actorType, record.actorId)
    let list = this.byActor.get(address)
    if (!list) this.byActor.set(address, (list = []))
    insertSorted(list, record, compareEventKeys)
    const snapshot = this.snapshots.get(address)
    if (snapshot && compareEventKeys(record, snapshot.at) < 0) this.snapshots.delete(address)
  }

  private originLog(origin: string): EventRecord[] {
    let log = this.byOrigin.get(origin)
    if (!log) this.byOrigin.set(origin, (log = []))
    return log
  }

  private assertRunning(what: string, options: AbortOptions | undefined): void {
    if (!this.running) throw new NotRunningError(notRunningMessage('the memory store'))
    throwIfAborted(options?.signal, `memory store ${what}`)
  }
}
