import type { Stream } from '@libp2p/interface'
import {
  MAX_HLC_DRIFT_MS,
  ThrottledWarning,
  type EventRecord,
  type VersionVector,
} from '../../core/index.js'
import { AckPacer } from './ack-pacer.js'
import { FrameAdmission } from './frame-admission.js'
import { sharedKeys } from './retired-origins.js'
import { MAX_VECTOR_ORIGINS, type Frame, type HelloFrame } from './frames.js'
import {
  ReplicationSession,
  type SessionComponents,
  type SessionPeer,
  type SessionResult,
} from './session.js'

/** At most one warning per this many ms about events held back for their clock skew. */
const SKEW_WARN_EVERY_MS = 10_000

/**
 * The side of replication that takes a peer's events in, over a stream the peer opened:
 * answers the hello with this geo's vector, validates each events frame (order, clock
 * drift, the flow-control window), ingests them in batches, adds what was accepted to the
 * `LocalFeed` (so the senders to other peers pass it on), and acknowledges with the vector
 * after each ingest.
 *
 * Clock skew, decided per event: a frame holding an event stamped more than
 * MAX_HLC_DRIFT_MS ahead is rejected (no honest clock is a day off: the stream closes and
 * the redial backoff bounds what the peer costs). An event beyond the clock's skew bound
 * but within that horizon is held back: neither it nor any later seq of its origin is
 * ingested, and acks stop short of its frame, so the sender does not re-send it at once.
 * Once the local clock has caught up, the ack names every frame: the sender sees the
 * vector still lacks those events and sends them again (anti-entropy), and they are stored.
 */
export class ReplicationReceiver extends ReplicationSession {
  private readonly queue: Array<{
    n: number
    events: EventRecord[]
    bytes: number
    more: boolean
  }> = []
  private queuedBytes = 0
  private queuedEvents = 0
  /** Highest frame acknowledged as received. */
  private receivedAcked = 0
  private receiptScheduled = false
  private lastVector: VersionVector = {}
  private lastN = 0
  private processedN = 0
  private echo: number | undefined
  private ackWanted = false
  /** Our hello went out: acks may follow. */
  private replied = false
  private lingerStartedAt: number | undefined
  /** Highest events frame ingested (acks name `processedN`, which stops short of a held one). */
  private ingestedN = 0
  /** Per origin, its first event held back for its clock skew; later seqs of it wait too. */
  private readonly held = new Map<string, EventRecord>()
  /** The first events frame with a held-back event, while any is held. */
  private heldFromN: number | undefined
  /** Per origin, the highest seq this session has told the sender this geo holds (hello, acks). */
  private readonly told: VersionVector = {}
  /** What of the peer's frames this node takes (and what it passes over). */
  private readonly admission: FrameAdmission
  /** An ingest is under way: frames read meanwhile get a receipt ack of their own. */
  private ingesting = false
  private readonly acks: AckPacer
  private readonly skewWarning: ThrottledWarning

  constructor(stream: Stream, peer: SessionPeer, components: SessionComponents) {
    super('receiver', stream, peer, components)
    this.admission = new FrameAdmission(components, peer, this.logger, (reason) =>
      this.reject(reason),
    )
    this.acks = new AckPacer(components.clock, components.settings.ackIntervalMs, (echo) => {
      if (!this.closed) this.sendAck(this.processedN, this.lastVector, echo)
    })
    this.skewWarning = new ThrottledWarning(
      this.logger,
      'replicated events stamped beyond the clock skew bound are held back until the clock catches up',
      SKEW_WARN_EVERY_MS,
      components.clock,
    )
  }

  /** Runs the session until its stream ends. */
  async run(): Promise<SessionResult> {
    await this.process().catch((error: unknown) => {
      this.logger.warn('could not ingest replicated events; closing the stream', { error })
      this.close(`ingest failed: ${(error as Error).message}`)
    })
    return this.finished()
  }

  protected override onFrame(frame: Frame, bytes: number): void {
    if (!this.handshake) {
      if (frame.t !== 'hello') return this.reject(`a '${frame.t}' frame before the hello`)
      this.onHello(frame)
      return
    }
    switch (frame.t) {
      case 'events': {
        if (frame.n !== this.lastN + 1)
          return this.reject(`events frame ${frame.n} out of order (expected ${this.lastN + 1})`)
        const horizon = this.components.clock.now() + MAX_HLC_DRIFT_MS
        if (frame.events.some((e) => e.hlc.wall > horizon))
          return this.reject(
            `an event stamped more than MAX_HLC_DRIFT_MS (${MAX_HLC_DRIFT_MS} ms) in the future`,
          )
        // Only events of accepted origins, each covered by its origin's signature, of an
        // origin within its key's bound: the rest is passed over or refuses the frame.
        const events = this.admission.admit(frame.events, frame.wire)
        if (!events) return
        this.lastN = frame.n
        this.queue.push({ n: frame.n, events, bytes, more: frame.more === true })
        this.queuedBytes += bytes
        this.queuedEvents += frame.events.length
        if (this.queuedBytes > this.components.settings.maxQueuedBytes)
          return this.reject('the sender ignored the flow-control window')
        this.scheduleReceipt()
        this.wakeup.notify()
        return
      }
      case 'notice':
        return this.admission.notice(frame)
      case 'status':
        this.peer.advertised(frame)
        return
      case 'ping':
        this.echo = frame.at
        this.ackWanted = true
        this.wakeup.notify()
        return
      default:
        return this.reject(`a '${frame.t}' frame on the receiving side of the stream`)
    }
  }

  /** Releases the held-back events once one of them is within the skew bound. */
  protected override onTick(): void {
    if (this.heldFromN === undefined) return
    const { ingest } = this.components
    if (![...this.held.values()].some((event) => ingest.acceptsStamp(event.hlc))) return
    // Every held origin is released: any still too far ahead is held again when re-sent.
    this.held.clear()
    this.heldFromN = undefined
    this.ackWanted = true
    this.wakeup.notify()
  }

  /**
   * Whether `event` (of frame `n`) may be ingested now: not when its origin is held back,
   * nor when it is stamped beyond the skew bound (its origin is then held back from it on).
   */
  private admit(event: EventRecord, n: number): boolean {
    if (this.held.has(event.origin)) return false
    const { ingest, clock, taps } = this.components
    if (ingest.acceptsStamp(event.hlc)) return true
    if (this.held.size >= MAX_VECTOR_ORIGINS) {
      this.reject(`events of more than ${MAX_VECTOR_ORIGINS} origins stamped in the future`)
      return false
    }
    this.held.set(event.origin, event)
    this.heldFromN ??= n
    const aheadMs = event.hlc.wall - clock.now()
    taps.publish({
      kind: 'clock.skew',
      at: clock.now(),
      peer: this.peer.peerId,
      origin: event.origin,
      seq: event.seq,
      aheadMs,
    })
    this.skewWarning.warn({ peer: this.peer.peerId, origin: event.origin, seq: event.seq, aheadMs })
    return false
  }

  private onHello(hello: HelloFrame): void {
    if (!this.acceptHello(hello, true)) return
    // The answer leaves out the retired origins of the notices both sides hold alike, so the
    // sender reads it exactly; the hello, read against the same notices, may say less than
    // the sender holds (it left out the origins of notices this node lacks): safe.
    const base = this.components.retired.snapshot
    const keys = sharedKeys(base, hello.bases)
    const peerVector = this.peerVector(hello, base, keys)
    this.peer.holds(peerVector)
    // Reply with the vector once the store answers; frames that arrive meanwhile queue up.
    this.ackWanted = false
    this.components.log.versionVector().then(
      (vector) => {
        if (this.closed) return
        this.sendHello(vector, base, keys)
        this.reportHello(hello, base, keys)
        Object.assign(this.told, vector)
        this.replied = true
        this.peer.handshook('receiver', { ...hello, vector: peerVector })
        this.wakeup.notify()
      },
      (error: unknown) => this.close(`cannot read the version vector: ${String(error)}`),
    )
  }

  /** The frames received so far may be acknowledged, as long as the queue has room. */
  private receivable(): number {
    return this.queuedBytes <= this.components.settings.receiveBufferBytes
      ? this.lastN
      : this.receivedAcked
  }

  /**
   * Acknowledges receipt at the end of this turn (one ack for every frame read in it) while
   * an ingest is under way; otherwise the ack after the ingest says it.
   */
  private scheduleReceipt(): void {
    if (this.receiptScheduled) return
    this.receiptScheduled = true
    setImmediate(() => {
      this.receiptScheduled = false
      const received = this.receivable()
      if (this.closed || received <= this.receivedAcked || !this.ingesting) return
      this.acks.soon()
    })
  }

  protected override onClosed(): void {
    this.acks.stop()
    this.skewWarning.close()
  }

  private sendAck(n: number, held: VersionVector, echo: number | undefined): void {
    const vector = this.advancedSinceTold(held)
    const received = Math.max(n, this.receivable())
    this.receivedAcked = received
    this.frames.write({
      t: 'ack',
      n,
      ...(received > n ? { received } : {}),
      vector,
      ...(echo !== undefined ? { echo } : {}),
    })
  }

  /**
   * The origins of `held` (and of those passed over) that advanced past what this session
   * last told the sender, at most MAX_VECTOR_ORIGINS of them (the rest go in the next ack):
   * an ack's size follows what changed, not how many origins the geo holds.
   */
  private advancedSinceTold(held: VersionVector): VersionVector {
    const advanced: VersionVector = {}
    let count = 0
    for (const vector of [held, this.admission.passedOver])
      for (const [origin, seq] of Object.entries(vector)) {
        if (seq <= (this.told[origin] ?? 0)) continue
        if (count >= MAX_VECTOR_ORIGINS) {
          this.ackWanted = true
          this.wakeup.notify()
          return advanced
        }
        advanced[origin] = seq
        this.told[origin] = seq
        count++
      }
    return advanced
  }

  /** The sender has more ready and the batch is still small: wait a little for it. */
  private shouldLinger(): boolean {
    const { settings, clock } = this.components
    const last = this.queue.at(-1)
    if (!last?.more) return false
    if (this.queuedBytes >= settings.ingestBatchBytes) return false
    if (this.queuedEvents >= settings.ingestBatchEvents) return false
    this.lingerStartedAt ??= clock.now()
    return clock.now() - this.lingerStartedAt < settings.ingestLingerMs
  }

  private linger(): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.components.clock.setTimer(this.components.settings.ingestLingerMs, done)
      const woken = this.wakeup.wait()
      void woken.then(done)
      function done() {
        cancel()
        resolve()
      }
    })
  }

  private async process(): Promise<void> {
    const { ingest, log, settings, taps, clock, localFeed } = this.components
    while (!this.closed) {
      if (!this.replied || (this.queue.length === 0 && !this.ackWanted)) {
        await this.wakeup.wait()
        continue
      }
      if (this.shouldLinger()) {
        await this.linger()
        continue
      }
      this.lingerStartedAt = undefined
      const events: EventRecord[] = []
      const peerHolds: VersionVector = {}
      let received = 0
      let receivedBytes = 0
      let n = this.ingestedN
      while (this.queue.length > 0 && received < settings.ingestBatchEvents) {
        const item = this.queue.shift()!
        this.queuedBytes -= item.bytes
        this.queuedEvents -= item.events.length
        received += item.events.length
        receivedBytes += item.bytes
        addToVector(peerHolds, item.events)
        for (const event of item.events) if (this.admit(event, item.n)) events.push(event)
        if (this.closed) return
        n = item.n
      }
      this.ackWanted = false
      if (received > 0) {
        this.ingesting = true
        const accepted =
          events.length > 0
            ? await ingest
                .ingest(events, { from: this.peer.peerId })
                .finally(() => (this.ingesting = false))
            : []
        this.ingesting = false
        if (this.closed) return
        // Order matters: the link learns what the peer holds before the local feed offers
        // the events to the senders, and counts (and checks the heal) after both.
        this.peer.holds(peerHolds)
        localFeed.add(accepted, this.peer.peerId)
        this.peer.counted('in', accepted.length, receivedBytes)
        if (accepted.length > 0 && taps.wants('replication.in'))
          taps.publish({
            kind: 'replication.in',
            at: clock.now(),
            peer: this.peer.peerId,
            geo: this.peer.geo,
            events: accepted.length,
          })
      }
      // n and the vector advance together: a receipt ack sent meanwhile pairs the old ones.
      const vector = await log.versionVector()
      if (this.closed) return
      this.ingestedN = n
      // While events are held back, acks stop short of their frame: an ack of everything
      // sent would make the sender re-send them at once, again and again.
      this.processedN = this.heldFromN === undefined ? n : Math.min(n, this.heldFromN - 1)
      this.lastVector = vector
      const echo = this.echo
      this.echo = undefined
      // A ping's answer goes at once (it measures the round trip); others are rate-limited.
      if (echo !== undefined) this.acks.now(echo)
      else this.acks.soon()
    }
  }
}

/** Raises `vector` to the highest seq per origin among `events` (the sender holds everything up to each). */
function addToVector(vector: VersionVector, events: readonly EventRecord[]): void {
  for (const event of events)
    if (event.seq > (vector[event.origin] ?? 0)) vector[event.origin] = event.seq
}
