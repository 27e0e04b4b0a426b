// A node of a geo of several nodes follows the geo's store: what the other nodes append, and
// the replicated events that whichever node replicates for the geo ingests, reach this node's
// replicas (and, on the replicating node, its fabric) from the store itself, in each origin's
// seq order. The store is the one source: nothing is lost when a node is slow, restarts or
// changes role, and nothing depends on the nodes reaching each other.
import type {
  Clock,
  EventFollower,
  EventFollowing,
  EventLog,
  EventRecord,
  Logger,
  Startable,
  VersionVector,
} from '../core/index.js'

/** How the follower reads. */
export interface StoreFollowerSettings {
  /** How long one read waits at the store for something new. */
  waitMs: number
  /** Most events taken by one read. */
  limit: number
  /** How often the store's vector is read for origins the follower does not follow yet. */
  discoverMs: number
  /** After a failed read, the wait before the next one (doubling up to 8 times this). */
  retryMs: number
}

export const STORE_FOLLOWER_DEFAULTS: StoreFollowerSettings = {
  waitMs: 250,
  limit: 1_000,
  discoverMs: 250,
  retryMs: 100,
}

/**
 * Reads every event stored after the node started under any origin but its own (its own it
 * wrote itself) and hands them to `sink`, once each, in seq order per origin.
 */
export class StoreFollower implements Startable {
  /** Per origin followed: the highest seq handed to the sink. */
  private readonly cursor: VersionVector = {}
  private follower: EventFollower | undefined
  private loop: Promise<void> | undefined
  private running = false
  /** Stopped for good: a start after a stop does nothing. */
  private stopped = false
  private cancelWait: (() => void) | undefined
  private failures = 0

  constructor(
    private readonly store: EventLog & EventFollowing,
    private readonly ownOrigin: string,
    private readonly sink: (events: EventRecord[]) => void,
    private readonly components: { clock: Clock; logger: Logger },
    private readonly settings: StoreFollowerSettings = STORE_FOLLOWER_DEFAULTS,
  ) {}

  /** The vector of what was handed to the sink (for tests and status). */
  get position(): Readonly<VersionVector> {
    return this.cursor
  }

  /** Starts from what the store holds now: everything before it is what loads read. */
  async start(): Promise<void> {
    if (this.running || this.stopped) return
    await this.discover()
    if (this.stopped) return
    this.follower = this.store.followEvents()
    this.running = true
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (!this.running) return
    this.running = false
    this.cancelWait?.()
    await this.follower?.close()
    await this.loop
  }

  private async run(): Promise<void> {
    const { clock, logger } = this.components
    let discoveredAt = clock.now()
    while (this.running) {
      try {
        const now = clock.now()
        // (A wall clock stepped back rediscovers at once rather than not until it catches up.)
        if (now - discoveredAt >= this.settings.discoverMs || now < discoveredAt) {
          await this.discover()
          discoveredAt = clock.now()
        }
        if (Object.keys(this.cursor).length === 0) {
          // Nothing to follow yet (the geo's first node, before anyone else writes).
          await this.wait(this.settings.discoverMs)
          continue
        }
        const events = await this.follower!.next(this.cursor, this.settings)
        if (!this.running) return
        this.failures = 0
        this.take(events)
      } catch (error) {
        if (!this.running) return
        this.failures++
        if (this.failures === 1 || this.failures % 50 === 0)
          logger.warn('cannot follow the geo store; retrying', {
            failures: this.failures,
            error: (error as Error).message,
          })
        await this.wait(this.settings.retryMs * 2 ** Math.min(this.failures - 1, 3))
      }
    }
  }

  /** Hands on the events past the cursor, in the order read (seq order per origin). */
  private take(events: readonly EventRecord[]): void {
    if (events.length === 0) return
    const fresh: EventRecord[] = []
    const next: VersionVector = {}
    for (const event of events) {
      const at = next[event.origin] ?? this.cursor[event.origin]
      // A store holds each origin's seqs without gaps, so this skips only what was handed on.
      if (at === undefined || event.seq <= at) continue
      next[event.origin] = event.seq
      fresh.push(event)
    }
    if (fresh.length === 0) return
    this.sink(fresh)
    // Only once handed on: a sink that throws gets the same events again.
    Object.assign(this.cursor, next)
  }

  /** Follows every origin the store holds that is not followed yet, from where the store is. */
  private async discover(): Promise<void> {
    const vector = await this.store.versionVector()
    const first = !this.running && this.follower === undefined
    for (const [origin, seq] of Object.entries(vector))
      if (origin !== this.ownOrigin && this.cursor[origin] === undefined)
        // At the start, what the store holds is what any load reads; an origin found later
        // is new since the start: all of it is to hand on.
        this.cursor[origin] = first ? seq : 0
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.cancelWait = this.components.clock.setTimer(ms, () => {
        this.cancelWait = undefined
        resolve()
      })
      if (!this.running) resolve()
    })
  }
}
