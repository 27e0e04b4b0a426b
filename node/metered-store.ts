import {
  Buckets,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type ReadActorOptions,
  type Snapshot,
  type AbortOptions,
  type VersionVector,
} from '../core/index.js'

/** Upper bounds (seconds) of the store latency buckets: an fsync'd file append sits in the ms. */
export const STORE_LATENCY_BUCKETS = [
  0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
] as const
/** Append latency is timed on one append in this many (a power of two). */
export const STORE_SAMPLE_EVERY = 32
/** Upper bounds of the events-per-append buckets. */
export const STORE_BATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 1000] as const

/** The store operations a failure is counted under. */
export type StoreOperation = 'append' | 'ingest' | 'read' | 'snapshot'

/** What a metered store counted, read by a scrape. */
export class StoreStats {
  readonly appendSeconds = new Buckets(STORE_LATENCY_BUCKETS)
  readonly appendEvents = new Buckets(STORE_BATCH_BUCKETS)
  readonly ingestSeconds = new Buckets(STORE_LATENCY_BUCKETS)
  /** Replicated events newly stored. */
  ingestedEvents = 0
  snapshotWrites = 0
  /** Failures other than appends (the runtime counts those, per actor type). */
  readonly errors: Record<Exclude<StoreOperation, 'append'>, number> = {
    ingest: 0,
    read: 0,
    snapshot: 0,
  }
}

/**
 * An event store that counts what passes through it for metrics: events per append, append
 * latency (sampled), ingest latency, snapshot writes, failures.
 */
export class MeteredStore implements EventStore {
  private appends = 0

  constructor(
    private readonly store: EventStore,
    readonly stats: StoreStats,
  ) {}

  start(): Promise<void> {
    return this.store.start()
  }

  stop(): Promise<void> {
    return this.store.stop()
  }

  append(drafts: readonly EventDraft[], options?: AbortOptions): Promise<EventRecord[]> {
    const { stats } = this
    stats.appendEvents.observe(drafts.length)
    // Only a sample is timed: a `then` and two clock reads on every in-memory append cost
    // several percent of a command. A failed append is counted by the runtime (it sees it).
    if ((++this.appends & (STORE_SAMPLE_EVERY - 1)) !== 0) return this.store.append(drafts, options)
    const started = performance.now()
    return this.store.append(drafts, options).then((records) => {
      stats.appendSeconds.observe((performance.now() - started) / 1000)
      return records
    })
  }

  ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    const started = performance.now()
    return this.store.ingest(events, options).then(
      (stored) => {
        this.stats.ingestSeconds.observe((performance.now() - started) / 1000)
        this.stats.ingestedEvents += stored.length
        return stored
      },
      (error: unknown) => {
        this.stats.errors.ingest++
        throw error
      },
    )
  }

  readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    return this.counted('read', this.store.readActor(actorType, actorId, options))
  }

  readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    return this.counted('read', this.store.readOrigin(origin, fromSeq, limit, options))
  }

  versionVector(options?: AbortOptions): Promise<VersionVector> {
    return this.counted('read', this.store.versionVector(options))
  }

  async saveSnapshot(snapshot: Snapshot, options?: AbortOptions): Promise<void> {
    await this.counted('snapshot', this.store.saveSnapshot(snapshot, options))
    this.stats.snapshotWrites++
  }

  loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined> {
    return this.counted('read', this.store.loadSnapshot(actorType, actorId, options))
  }

  private counted<T>(operation: Exclude<StoreOperation, 'append'>, result: Promise<T>): Promise<T> {
    return result.catch((error: unknown) => {
      this.stats.errors[operation]++
      throw error
    })
  }
}
