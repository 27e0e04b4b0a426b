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
  /** How long one wait at the store for new writes lasts. */
  waitMs: number
  /** Most events taken by one read. */
  limit: number
  /**
   * How often the follower checks that the store's record of writes still holds everything
   * after where it reads (two small reads); when it does not, the store's vector is compared
   * with what was handed on at once.
   */
  checkMs: number
  /** How often the store's vector is compared with what was handed on, whatever the check says. */
  verifyMs: number
  /** After a failed read, the wait before the next one (doubling up to 8 times this). */
  retryMs: number
}

export const STORE_FOLLOWER_DEFAULTS: StoreFollowerSettings = {
  waitMs: 250,
  limit: 1_000,
  checkMs: 2_000,
  verifyMs: 30_000,
  retryMs: 100,
}

/** Most origins one read names (a catch-up of more origins reads them in turn). */
const ORIGINS_PER_READ = 256

/**
 * Reads every event stored after the node started under any origin but its own (its own it
 * wrote itself) and hands them to `sink`, once each, in seq order per origin: it waits on the
 * store's record of writes, reads the origins a write moved, and now and then compares the
 * store's vector with what it handed on.
 */
export class StoreFollower implements Startable {
  /** Per origin followed: the highest seq handed to the sink. */
  private readonly cursor: VersionVector = {}
  private follower: EventFollower | undefined
  /** Where in the store's record of writes the next wait starts. */
  private changesFrom = ''
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

  /**
   * Starts from what the store holds now: everything before it is what loads read. The
   * record's position is taken first, so a write between the two is in one or both.
   */
  async start(): Promise<void> {
    if (this.running || this.stopped) return
    const follower = this.store.followEvents()
    this.follower = follower
    try {
      this.changesFrom = await follower.position()
      for (const [origin, seq] of Object.entries(await this.store.versionVector()))
        if (origin !== this.ownOrigin) this.cursor[origin] = seq
    } catch (error) {
      this.follower = undefined
      await follower.close()
      throw error
    }
    if (this.stopped) return void (await follower.close())
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
    const follower = this.follower!
    let checkedAt = clock.now()
    let verifiedAt = checkedAt
    while (this.running) {
      try {
        const now = clock.now()
        // (A wall clock stepped back checks at once rather than not until it catches up.)
        if (now - verifiedAt >= this.settings.verifyMs || now < verifiedAt) {
          await this.verify()
          verifiedAt = checkedAt = clock.now()
        } else if (now - checkedAt >= this.settings.checkMs || now < checkedAt) {
          const { intact, position } = await follower.check(this.changesFrom)
          if (!intact) {
            logger.info(
              'the geo store no longer records every write since this node read it; comparing its vector',
              {
                from: this.changesFrom,
                to: position,
              },
            )
            // As at the start: writes after `position` come as changes, the rest is in the vector.
            await this.verify()
            this.changesFrom = position
            verifiedAt = clock.now()
          }
          checkedAt = clock.now()
        } else {
          const { position, written, intact } = await follower.changes(
            this.changesFrom,
            this.settings.waitMs,
          )
          if (!this.running) return
          // A write names its origin's new highest seq: one below what was handed on means
          // the store went back (it lost events): compare the whole vector now. So too when
          // the record was trimmed past where this node read (it lagged behind): the writes
          // trimmed are in no entry read, and a later check starts past them.
          const wentBack = Object.entries(written).some(
            ([origin, seq]) => origin !== this.ownOrigin && seq < (this.cursor[origin] ?? 0),
          )
          if (wentBack || intact === false) {
            if (intact === false)
              logger.info(
                'the geo store no longer records every write since this node read it; comparing its vector',
                { from: this.changesFrom, to: position },
              )
            await this.verify()
            verifiedAt = checkedAt = clock.now()
          } else await this.catchUp(written)
          // Only once handed on: a sink that throws has the same writes read again.
          this.changesFrom = position
        }
        this.failures = 0
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

  /** Compares the store's vector with what was handed on, and reads what is missing. */
  private async verify(): Promise<void> {
    const vector = await this.store.versionVector()
    const behind = Object.entries(vector).filter(
      ([origin, seq]) => origin !== this.ownOrigin && seq < (this.cursor[origin] ?? 0),
    )
    if (behind.length > 0) {
      // The store lost events this node read (a Redis without persistence restarted): its
      // seqs are written again, by other events. Follow the store as it is now; what was
      // written again up to now under seqs this node had read is not handed on (it cannot be
      // told from what was read). A store that loses acknowledged writes breaks the
      // durability every node relies on (docs/redis.md): hence the warning.
      const [origin, seq] = behind[0]!
      this.components.logger.warn('the geo store holds fewer events than this node read from it', {
        origins: behind.length,
        example: `${origin}: the store holds ${seq}, this node read ${this.cursor[origin]}`,
      })
      for (const [lost, held] of behind) this.cursor[lost] = held
    }
    await this.catchUp(vector)
  }

  /**
   * Reads and hands on what the store holds up to `target` past the cursor. An origin not
   * followed yet is new since the start: all of it is to hand on. Bounded: each read either
   * hands on events of an origin or drops it.
   */
  private async catchUp(target: Readonly<VersionVector>): Promise<void> {
    const behind: [string, number][] = []
    for (const [origin, seq] of Object.entries(target)) {
      if (origin === this.ownOrigin) continue
      const at = (this.cursor[origin] ??= 0)
      if (seq > at) behind.push([origin, seq])
    }
    for (let from = 0; from < behind.length && this.running; from += ORIGINS_PER_READ) {
      let reading = behind.slice(from, from + ORIGINS_PER_READ)
      while (reading.length > 0 && this.running) {
        const after = Object.fromEntries(reading.map(([origin]) => [origin, this.cursor[origin]!]))
        const events = await this.follower!.read(after, this.settings.limit)
        if (!this.running) return
        this.take(events)
        const read = new Set(events.map((event) => event.origin))
        reading = reading.filter(([origin, seq]) => read.has(origin) && this.cursor[origin]! < seq)
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

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve()
      const cancel = this.components.clock.setTimer(ms, () => {
        this.cancelWait = undefined
        resolve()
      })
      // Stop ends the wait at once (the timer cleared and the wait over).
      this.cancelWait = () => {
        this.cancelWait = undefined
        cancel()
        resolve()
      }
    })
  }
}
