import type { Clock, EventLog, EventRecord, VersionVector } from '../../core/index.js'
import { sealOwnRuns } from './event-signing.js'

/** Most lag markers kept per origin; past it neighbours merge (the lag estimate errs older). */
export const MAX_LAG_MARKERS_PER_ORIGIN = 256

/** A sender (`ReplicationSender`) that wants to hear about events new to this geo. */
export interface LocalFeedListener {
  /** Events new to this geo, durable; `fromPeer` is the peer they came from, if replicated. */
  offer(events: readonly EventRecord[], fromPeer: string | undefined): void
  /** The local vector advanced without records at hand (found by a store refresh). */
  poke(): void
}

/** The window over which a `LocalFeed` measures the rate events are added at. */
export const ADD_RATE_WINDOW_MS = 100

/** How a `LocalFeed` gathers events before it offers them. */
export interface LocalFeedOptions {
  /**
   * The most an add waits for the next offer: events added within the wait of the last
   * offer go together in the next one, so under load the senders get few large batches
   * rather than one per group commit. An add after a quiet spell is offered at once (no
   * delay at low load). 0: every add at once.
   */
  coalesceMs?: number
  /**
   * Events per second at (and above) which an add waits the whole `coalesceMs`; below it
   * the wait shrinks in proportion to the rate, and a wait under 1 ms is none. Batching
   * saves per-batch work (a signature, a frame per peer) that only matters when batches
   * come fast, so a lightly loaded geo pays no latency for it. Undefined: always the whole
   * `coalesceMs`.
   */
  coalesceFullRate?: number
  /**
   * Signs a run of this node's own events of a batch, once for every sender
   * (`OwnEventSigner.seal`): each peer that is sent the batch reuses the signature.
   */
  seal?: (ownRun: readonly EventRecord[]) => EventRecord[]
  /** The origins whose events `seal` signs (see `SessionComponents.isOwn`). */
  isOwn?: (origin: string) => boolean
}

interface LagMarker {
  /** Every seq up to this one was known here at `at`. */
  seq: number
  at: number
}

/**
 * What this geo durably holds, as the fabric tracks it: the vector `known` (advanced by
 * local appends, by replicated ingests and by periodic store refreshes), when each part
 * of it became known (for lag in ms), and the senders to tell about new events.
 *
 * The data path of live push: core's `EventFeed` (durable local appends, published by the
 * runtime) and the receivers' ingests `add` here; every subscribed `ReplicationSender` is
 * offered them.
 */
export class LocalFeed {
  private readonly knownVector: VersionVector = {}
  private readonly offeredVector: VersionVector = {}
  private readonly markers = new Map<string, LagMarker[]>()
  private readonly listeners = new Set<LocalFeedListener>()
  /** Events added and not offered yet, in order, grouped by the peer they came from. */
  private pending: Array<{ events: EventRecord[]; fromPeer: string | undefined }> = []
  private lastOfferAt = Number.NEGATIVE_INFINITY
  private cancelOffer: (() => void) | undefined
  private readonly coalesceMs: number
  /** Events added in the current `ADD_RATE_WINDOW_MS` window (numbered by `rateWindow`) and the one before. */
  private rateWindow = Number.NEGATIVE_INFINITY
  private addedInWindow = 0
  private addedInPreviousWindow = 0

  constructor(
    private readonly log: EventLog,
    private readonly clock: Clock,
    private readonly options: LocalFeedOptions = {},
  ) {
    this.coalesceMs = options.coalesceMs ?? 0
  }

  /** Loads the store's vector. */
  async start(signal?: AbortSignal): Promise<void> {
    const vector = await this.log.versionVector({ signal })
    this.merge(vector)
  }

  /** The vector of events this geo holds (a live view: do not modify). */
  get known(): Readonly<VersionVector> {
    return this.knownVector
  }

  /** Offers `listener` every event new to this geo from now on; returns the unsubscribe. */
  subscribe(listener: LocalFeedListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * The vector of events offered to the senders (a live view: do not modify): `known` less
   * what waits for the next offer. Senders send up to it, so events are not read from the
   * store and signed once per peer while the batch that holds them is being gathered.
   */
  get offered(): Readonly<VersionVector> {
    return this.offeredVector
  }

  /**
   * Events appended (durably) or ingested here: known at once, offered to the senders at
   * once after a quiet spell, else with the others added within the wait (`waitMs`). Events
   * known already (a geo of several nodes reads back what its replicating node ingested) are
   * left out.
   */
  add(events: readonly EventRecord[], fromPeer?: string): void {
    if (events.length === 0) return
    let advanced: Map<string, number> | undefined
    let stale = 0
    for (const event of events) {
      const known = this.knownVector[event.origin] ?? 0
      if (event.seq > known) {
        advanced ??= new Map()
        if (!advanced.has(event.origin)) advanced.set(event.origin, known)
        this.knownVector[event.origin] = event.seq
      } else stale++
    }
    if (!advanced) return
    if (stale > 0) events = events.filter((e) => e.seq > (advanced.get(e.origin) ?? Infinity))
    const now = this.clock.now()
    for (const origin of advanced.keys()) this.mark(origin, this.knownVector[origin]!, now)
    this.countAdded(events.length, now)
    const last = this.pending.at(-1)
    if (last && last.fromPeer === fromPeer) last.events.push(...events)
    else this.pending.push({ events: [...events], fromPeer })
    if (this.cancelOffer) return
    const wait = this.lastOfferAt + this.waitMs(now) - now
    if (wait <= 0) this.offerPending()
    else
      this.cancelOffer = this.clock.setTimer(wait, () => {
        this.cancelOffer = undefined
        this.offerPending()
      })
  }

  /**
   * How long an add waits for the next offer at `now`: `coalesceMs` in proportion to the
   * rate of adds up to `coalesceFullRate`, none under 1 ms.
   */
  waitMs(now = this.clock.now()): number {
    const fullRate = this.options.coalesceFullRate
    if (fullRate === undefined || this.coalesceMs === 0) return this.coalesceMs
    const wait = this.coalesceMs * Math.min(1, this.addRate(now) / fullRate)
    return wait < 1 ? 0 : wait
  }

  /** Events added per second, over the last `ADD_RATE_WINDOW_MS` (a sliding window). */
  private addRate(now: number): number {
    this.countAdded(0, now)
    const elapsed = (now % ADD_RATE_WINDOW_MS) / ADD_RATE_WINDOW_MS
    const added = this.addedInPreviousWindow * (1 - elapsed) + this.addedInWindow
    return (added * 1_000) / ADD_RATE_WINDOW_MS
  }

  private countAdded(count: number, now: number): void {
    const window = Math.floor(now / ADD_RATE_WINDOW_MS)
    if (window !== this.rateWindow) {
      this.addedInPreviousWindow = window === this.rateWindow + 1 ? this.addedInWindow : 0
      this.addedInWindow = 0
      this.rateWindow = window
    }
    this.addedInWindow += count
  }

  /** Offers what is pending now (and cancels the timer). */
  flush(): void {
    this.cancelOffer?.()
    this.cancelOffer = undefined
    this.offerPending()
  }

  /** Cancels the timer of a pending offer and forgets what it held (the fabric is stopping). */
  stop(): void {
    this.cancelOffer?.()
    this.cancelOffer = undefined
    this.pending = []
  }

  private offerPending(): void {
    const pending = this.pending
    this.pending = []
    this.lastOfferAt = this.clock.now()
    for (const { events, fromPeer } of pending) {
      for (const event of events)
        if (event.seq > (this.offeredVector[event.origin] ?? 0))
          this.offeredVector[event.origin] = event.seq
      if (this.listeners.size === 0) continue
      const offered = fromPeer === undefined ? this.sealOwn(events) : events
      for (const listener of this.listeners) listener.offer(offered, fromPeer)
    }
  }

  /**
   * `events` with each run of an own origin signed once, for every sender (an origin whose
   * events here are not one run of consecutive seqs is left to the senders to sign).
   */
  private sealOwn(events: readonly EventRecord[]): readonly EventRecord[] {
    const { seal, isOwn } = this.options
    if (!seal || !isOwn) return events
    return sealOwnRuns(events, isOwn, (run) =>
      run.every((e, i) => e.seq === run[0]!.seq + i) ? seal(run) : run,
    )
  }

  /**
   * Re-reads the store's vector: finds events that reached the store by other paths, and
   * this node's own events whose append was durable although its caller saw an error (a
   * store reply lost after the commit), so no `event.appended` tap announced them. A
   * store's vector counts only durable events, so this origin is read like any other.
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    const vector = await this.log.versionVector({ signal })
    if (this.merge(vector)) for (const listener of this.listeners) listener.poke()
  }

  /** Age in ms of the oldest event held here and missing from `theirs` (0 when none). */
  lagMs(theirs: Readonly<VersionVector>): number {
    const now = this.clock.now()
    let oldest = now
    for (const [origin, seq] of Object.entries(this.knownVector)) {
      const held = theirs[origin] ?? 0
      if (seq <= held) continue
      const list = this.markers.get(origin)
      const first = list?.find((m) => m.seq > held)
      if (first && first.at < oldest) oldest = first.at
    }
    return now - oldest
  }

  /**
   * The highest seq of `origin` this geo held at time `at` (by the lag markers; a marker
   * merged by thinning counts from its earlier time). Seqs whose markers were pruned are
   * held by every peer, so when none is left, `known` is the answer.
   */
  knownAt(origin: string, at: number): number {
    const known = this.knownVector[origin] ?? 0
    const list = this.markers.get(origin)
    if (!list || list.length === 0) return known
    let seq = 0
    for (const marker of list) {
      if (marker.at > at) break
      seq = marker.seq
    }
    return seq
  }

  /** Forgets lag markers every peer has acknowledged. */
  prune(acknowledged: ReadonlyArray<Readonly<VersionVector>>): void {
    for (const [origin, list] of this.markers) {
      const low = Math.min(...acknowledged.map((v) => v[origin] ?? 0))
      let drop = 0
      while (drop < list.length && list[drop]!.seq <= low) drop++
      if (drop > 0) list.splice(0, drop)
    }
  }

  private merge(vector: VersionVector): boolean {
    const now = this.clock.now()
    let advanced = false
    for (const [origin, seq] of Object.entries(vector)) {
      if (seq > (this.knownVector[origin] ?? 0)) {
        this.knownVector[origin] = seq
        this.mark(origin, seq, now)
        advanced = true
      }
      if (seq > (this.offeredVector[origin] ?? 0)) this.offeredVector[origin] = seq
    }
    return advanced
  }

  private mark(origin: string, seq: number, at: number): void {
    let list = this.markers.get(origin)
    if (!list) this.markers.set(origin, (list = []))
    const last = list.at(-1)
    if (last && last.seq >= seq) return
    list.push({ seq, at })
    if (list.length > MAX_LAG_MARKERS_PER_ORIGIN) {
      // Merge neighbours pairwise, keeping the earlier time: lag is overstated, never understated.
      const thinned: LagMarker[] = []
      for (let i = 0; i < list.length; i += 2) {
        const a = list[i]!
        const b = list[i + 1]
        thinned.push(b ? { seq: b.seq, at: a.at } : a)
      }
      this.markers.set(origin, thinned)
    }
  }
}
