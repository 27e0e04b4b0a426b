import type { AbortOptions, Clock, EventDraft, EventRecord, EventStore } from '../../core/index.js'

/**
 * Measures how long the store takes to append: the runtime writes through `store`, and
 * `takeMs()` gives the mean latency of the appends finished since the last call, or the
 * age of the oldest append still pending when that is longer (a store that hangs reads as
 * slow at once, not only when its appends finally return).
 */
export class AppendMeter {
  private totalMs = 0
  private count = 0
  private readonly pending = new Set<number>()
  /** The store the runtime writes through: every call is the wrapped store's, appends timed. */
  readonly store: EventStore

  constructor(
    inner: EventStore,
    private readonly clock: Clock,
  ) {
    const append = async (
      drafts: readonly EventDraft[],
      options?: AbortOptions,
    ): Promise<EventRecord[]> => {
      const started = this.clock.now()
      this.pending.add(started)
      try {
        return await inner.append(drafts, options)
      } finally {
        this.pending.delete(started)
        this.totalMs += this.clock.now() - started
        this.count++
      }
    }
    this.store = {
      append,
      ingest: (events, options) => inner.ingest(events, options),
      readActor: (type, id, options) => inner.readActor(type, id, options),
      readOrigin: (origin, fromSeq, limit, options) =>
        inner.readOrigin(origin, fromSeq, limit, options),
      versionVector: (options) => inner.versionVector(options),
      saveSnapshot: (snapshot, options) => inner.saveSnapshot(snapshot, options),
      loadSnapshot: (type, id, options) => inner.loadSnapshot(type, id, options),
      start: () => inner.start(),
      stop: () => inner.stop(),
    }
  }

  /** Mean append latency since the last call (or the oldest pending append's age), in ms; resets. */
  takeMs(): number {
    const mean = this.count > 0 ? this.totalMs / this.count : 0
    this.totalMs = 0
    this.count = 0
    let oldest = Infinity
    // Several appends may start in the same ms: the set then holds that start once, which is all the age needs.
    for (const started of this.pending) oldest = Math.min(oldest, started)
    const pendingAge = oldest === Infinity ? 0 : this.clock.now() - oldest
    return Math.max(mean, pendingAge)
  }
}
