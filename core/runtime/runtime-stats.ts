/**
 * Handler latency is timed with `performance.now()`, not the injected clock: it is for
 * watching only (no decision reads it) and needs sub-millisecond resolution.
 * It is timed on one command in this many per actor type: two clock reads per
 * message would cost a visible share of an in-memory tell (about 300 ns), one in 32 does not.
 */
export const LATENCY_SAMPLE_EVERY = 32

/** Upper bounds (seconds) of the handler latency buckets, as Prometheus histograms count them. */
export const HANDLER_LATENCY_BUCKETS = [
  0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5,
] as const

/**
 * Observations counted per bucket, as a Prometheus histogram reports them, without its
 * label hashing: a scrape turns the counts into cumulative `_bucket` lines.
 */
export class Buckets {
  /** Per bucket of `bounds`, plus one past the last (+Inf); not cumulative. */
  readonly counts: number[]
  count = 0
  sum = 0

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    const { bounds } = this
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += value
  }
}

/**
 * What the runtime counted for one actor type: plain numbers a scrape reads, bumped in
 * place on the hot path (no allocation, no lookup: each cell holds its type's counters).
 */
export class ActorTypeStats {
  /** Commands whose handler ran and whose events are durable. */
  handled = 0
  /** Commands refused or failed (validation, handler error, store error, full mailbox). */
  failed = 0
  /** Appends of this type's events that failed (the store was down, or refused them). */
  appendFailures = 0
  /** Commands seen: every LATENCY_SAMPLE_EVERY-th is timed (the command processor reads it inline). */
  seen = 0
  /** Sampled handler latencies in seconds. */
  readonly latency = new Buckets(HANDLER_LATENCY_BUCKETS)

  constructor(readonly type: string) {}

  /** Records a sampled command's latency, `started` being `performance.now()` when it was received. */
  sampleEnd(started: number): void {
    this.latency.observe((performance.now() - started) / 1000)
  }
}

/** The runtime's counters across actor types: read by a metrics scrape, never by the data path. */
export class RuntimeStats {
  private readonly byType = new Map<string, ActorTypeStats>()
  /** Actors evicted from memory, by reason. */
  evictedIdle = 0
  evictedCapacity = 0
  /** Actors loaded from the store (snapshot and/or events). */
  rehydrations = 0
  /** Re-folds: a replicated event sorted before events already applied. */
  refolds = 0
  /** Events folded again by those re-folds. */
  refoldedEvents = 0

  /** The counters of one actor type (created on first use; types are the registered ones). */
  forType(type: string): ActorTypeStats {
    let stats = this.byType.get(type)
    if (!stats) this.byType.set(type, (stats = new ActorTypeStats(type)))
    return stats
  }

  /** Every actor type's counters. */
  types(): IterableIterator<ActorTypeStats> {
    return this.byType.values()
  }
}
