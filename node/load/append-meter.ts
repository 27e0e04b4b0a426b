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
  /** Start times (ms) of the appends under way, each with how many started then. */
  private readonly pending = new Map<number, number>()
  /** The store the runtime writes through: every call is the wrapped store's, appends timed. */
  readonly store: EventStore

  constructor(
    inner: EventStore,
    private readonly clock: Clock,
  ) {
    // A `then`, not an async wrapper: this runs on every append of every command.
    const append = (
      drafts: readonly EventDraft[],
      options?: AbortOptions,
    ): Promise<EventRecord[]> => {
      const started = this.clock.now()
      this.pending.set(started, (this.pending.get(started) ?? 0) + 1)
      let appending: Promise<EventRecord[]>
      try {
        appending = inner.append(drafts, options)
      } catch (error) {
        // A store that throws rather than rejects: the runtime still gets a rejection.
        this.finished(started)
        return Promise.reject(error as Error)
      }
      return appending.then(
        (records) => {
          this.finished(started)
          return records
        },
        (error: unknown) => {
          this.finished(started)
          throw error
        },
      )
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

  private finished(started: number): void {
    const same = this.pending.get(started)!
    if (same > 1) this.pending.set(started, same - 1)
    else this.pending.delete(started)
    this.totalMs += this.clock.now() - started
    this.count++
  }

  /** Mean append latency since the last call (or the oldest pending append's age), in ms; resets. */
  takeMs(): number {
    const mean = this.count > 0 ? this.totalMs / this.count : 0
    this.totalMs = 0
    this.count = 0
    let oldest = Infinity
    for (const started of this.pending.keys()) oldest = Math.min(oldest, started)
    const pendingAge = oldest === Infinity ? 0 : this.clock.now() - oldest
    return Math.max(mean, pendingAge)
  }
}
