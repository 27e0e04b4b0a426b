import type { Stream } from '@libp2p/interface'
import {
  AbortedError,
  MAX_HLC_DRIFT_MS,
  type Clock,
  type EventIngest,
  type EventLog,
  type EventRecord,
  type Logger,
  type Taps,
  type VersionVector,
} from '../../core/index.js'
import { FrameStream } from './frame-stream.js'
import { encodeFrame, PROTOCOL_VERSION, type Frame, type HelloFrame } from './frames.js'
import type { FeedListener, LocalFeed } from './local-feed.js'

/** Replication tuning; defaults in `LIBP2P_FABRIC_DEFAULTS`. */
export interface ReplicationSettings {
  /** Events per `events` frame during catch-up. */
  eventsPerFrame: number
  /**
   * Most frame bytes sent and not yet acknowledged: the cap of the sender's window. The
   * window itself adapts: it grows while acks come back within `ackLatencyTargetMs` and
   * halves when they take more than twice that, so a slow receiver never has seconds of
   * data queued ahead of the pings and acks that share the connection.
   */
  maxUnackedBytes: number
  /** Ack latency the sender's window aims for. */
  ackLatencyTargetMs: number
  /** Most events held per sending session for live push; past it, the session reads the store. */
  liveQueueEvents: number
  /** Most events a receiver passes to one ingest call. */
  ingestBatchEvents: number
  /**
   * While the sender says more is coming, a receiver gathers up to this many bytes (or
   * `ingestBatchEvents`) for one ingest call: fewer, larger ingests mean fewer re-folds of
   * the actors they touch. Keep it under the sender's window.
   */
  ingestBatchBytes: number
  /** Longest a receiver waits for more frames before it ingests what it has. */
  ingestLingerMs: number
  /**
   * Bytes a receiver queues (received, not yet ingested) and still acknowledges as
   * received; past it, receipts wait for the ingest to catch up, and the sender's window
   * stops it.
   */
  receiveBufferBytes: number
  /** Bytes a receiver queues before it treats the sender as ignoring the window. */
  maxQueuedBytes: number
  /** How often the sender pings (and learns the receiver's vector: anti-entropy). */
  heartbeatMs: number
  /** A session that hears nothing for this long is closed (the peer froze or vanished). */
  silenceTimeoutMs: number
  /** Deadline of the hello exchange. */
  handshakeTimeoutMs: number
}

/** What a session needs from the node. */
export interface SessionComponents {
  appName: string
  geo: string
  nodeId: string
  log: EventLog
  ingest: EventIngest
  taps: Taps
  logger: Logger
  clock: Clock
  feed: LocalFeed
  settings: ReplicationSettings
}

/** How a session reports to the link of its peer. */
export interface SessionPeer {
  readonly peerId: string
  /** The peer's geo (configured or learned from its hello). */
  readonly geo: string
  /** The hello exchange succeeded. */
  handshook(session: 'push' | 'pull', hello: HelloFrame): void
  /** The peer holds at least `vector`. */
  holds(vector: Readonly<VersionVector>): void
  /** Counts events sent to or taken from the peer. */
  counted(direction: 'in' | 'out', events: number): void
  /** A measured round trip. */
  rtt(ms: number): void
  /** The handshake was refused (by either side), with why. */
  refused(reason: string): void
  /**
   * `event` cannot be framed (`error` says why): the session skips it and sends no later
   * event of its origin, since the peer would not store them past the gap.
   */
  unframable(event: EventRecord, error: unknown): void
}

/** How a session ended. */
export interface SessionResult {
  /** The hello exchange succeeded. */
  handshook: boolean
  /** The handshake was refused by either side. */
  refused: boolean
  /** Why it ended. */
  reason: string
}

/** Checks a peer's hello against ours; returns the refusal reason, if any. */
export function helloMismatch(mine: { appName: string }, theirs: HelloFrame): string | undefined {
  if (theirs.protocol !== PROTOCOL_VERSION)
    return `protocol version ${theirs.protocol} is not supported (this node speaks ${PROTOCOL_VERSION}): upgrade the older node`
  if (theirs.app !== mine.appName)
    return `app '${theirs.app}' is not this fabric's app '${mine.appName}': check the app name and the peer list`
  return undefined
}

/** A one-slot wake-up: `notify()` before `wait()` is not lost. */
class Wakeup {
  private pending = false
  private resolve: (() => void) | undefined

  notify(): void {
    if (this.resolve) {
      const resolve = this.resolve
      this.resolve = undefined
      resolve()
    } else this.pending = true
  }

  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise((resolve) => (this.resolve = resolve))
  }
}

/** Shared lifecycle of both session kinds: the frame stream, the silence watchdog, the end. */
abstract class Session {
  protected readonly frames: FrameStream
  protected readonly wakeup = new Wakeup()
  protected closed = false
  protected handshake: HelloFrame | undefined
  protected refusedReason: string | undefined
  protected lastHeardAt: number
  protected readonly logger: Logger
  private endReason = 'closed'
  private cancelTimer: (() => void) | undefined
  private readonly done: Promise<void>
  private resolveDone!: () => void

  constructor(
    protected readonly kind: 'push' | 'pull',
    stream: Stream,
    protected readonly peer: SessionPeer,
    protected readonly components: SessionComponents,
  ) {
    this.logger = components.logger.child({ peer: peer.peerId, session: kind })
    this.lastHeardAt = components.clock.now()
    this.done = new Promise((resolve) => (this.resolveDone = resolve))
    this.frames = new FrameStream(stream, {
      onFrame: (frame, bytes) => {
        this.lastHeardAt = this.components.clock.now()
        this.onFrame(frame, bytes)
      },
      onClose: (error, rejected) => this.onStreamClosed(error, rejected),
    })
    this.scheduleTick()
  }

  /** Closes the session (idempotent). */
  close(reason: string): void {
    if (this.closed) return
    this.endReason = reason
    this.frames.abort(new AbortedError(`replication session with ${this.peer.peerId}: ${reason}`))
  }

  /** Resolves when the session has ended. */
  protected async finished(): Promise<SessionResult> {
    await this.done
    return {
      handshook: this.handshake !== undefined,
      refused: this.refusedReason !== undefined,
      reason: this.refusedReason ?? this.endReason,
    }
  }

  protected abstract onFrame(frame: Frame, bytes: number): void
  protected abstract onTick(now: number): void

  /** Rejects a frame: tap, log, close the stream. The node keeps serving. */
  protected reject(reason: string): void {
    this.publishRejected(reason)
    this.close(`frame rejected: ${reason}`)
  }

  /** Refuses the handshake: tells the peer when we are the receiver, then closes. */
  protected refuse(reason: string, tellPeer: boolean): void {
    this.refusedReason = reason
    this.peer.refused(reason)
    if (tellPeer) {
      this.frames.write({ t: 'refuse', reason })
      void this.frames.close()
    } else this.close(`refused: ${reason}`)
  }

  private onStreamClosed(error: Error | undefined, rejected: boolean): void {
    if (rejected && error) {
      this.publishRejected(error.message)
      this.endReason = `frame rejected: ${error.message}`
    } else if (error && this.endReason === 'closed') this.endReason = error.message
    this.closed = true
    this.cancelTimer?.()
    this.wakeup.notify()
    this.onClosed()
    this.resolveDone()
  }

  protected onClosed(): void {}

  private publishRejected(reason: string): void {
    this.logger.warn('fabric frame rejected; closing the stream', { reason })
    this.components.taps.publish({
      kind: 'frame.rejected',
      at: this.components.clock.now(),
      peer: this.peer.peerId,
      reason,
    })
  }

  private scheduleTick(): void {
    const { clock, settings } = this.components
    this.cancelTimer = clock.setTimer(settings.heartbeatMs, () => {
      if (this.closed) return
      const now = clock.now()
      const limit = this.handshake ? settings.silenceTimeoutMs : settings.handshakeTimeoutMs
      if (now - this.lastHeardAt > limit) {
        this.close(
          this.handshake
            ? `no frame from the peer for ${now - this.lastHeardAt} ms`
            : 'no hello from the peer in time',
        )
        return
      }
      this.onTick(now)
      this.scheduleTick()
    })
  }
}

interface InFlight {
  n: number
  bytes: number
  sentAt: number
}

/** The sender's window never shrinks below this. */
export const MIN_WINDOW_BYTES = 256 * 1024

/**
 * The sending side of replication to one peer, over a stream this node opened: hello,
 * catch-up of what the peer's vector lacks (read from the store in batches), then live
 * push of new events; a window of unacknowledged bytes and the stream's `drain` events
 * bound what is buffered.
 */
export class PushSession extends Session implements FeedListener {
  /** Highest seq per origin sent on this stream (or known to be held by the peer). */
  private readonly sent: VersionVector = {}
  private acked: VersionVector = {}
  private readonly live = new Map<string, EventRecord[]>()
  private liveCount = 0
  private readonly inFlight: InFlight[] = []
  private inFlightBytes = 0
  private window: number
  private lastSentN = 0
  /** Per origin, the seq of an event that cannot be framed: nothing from it on is sent. */
  private readonly blocked = new Map<string, number>()
  private unsubscribe: (() => void) | undefined
  private helloWaiter: ((hello: HelloFrame | undefined) => void) | undefined

  constructor(stream: Stream, peer: SessionPeer, components: SessionComponents) {
    super('push', stream, peer, components)
    // Open fully: loopback and LAN-like links never need less; a slow link halves it quickly.
    this.window = components.settings.maxUnackedBytes
  }

  /** Runs the session until its stream ends. */
  async run(): Promise<SessionResult> {
    const { appName, geo, nodeId, feed } = this.components
    this.frames.write({
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      app: appName,
      geo,
      node: nodeId,
      vector: { ...feed.known },
    })
    const hello = await new Promise<HelloFrame | undefined>((resolve) => {
      if (this.closed) return resolve(undefined)
      this.helloWaiter = resolve
    })
    if (!hello || this.closed) return this.finished()
    const mismatch = helloMismatch(this.components, hello)
    if (mismatch) {
      this.logger.warn('replication peer refused: handshake mismatch', { reason: mismatch })
      this.refuse(mismatch, false)
      return this.finished()
    }
    this.handshake = hello
    this.acked = { ...hello.vector }
    Object.assign(this.sent, hello.vector)
    this.peer.holds(hello.vector)
    this.peer.handshook('push', hello)
    this.unsubscribe = feed.subscribe(this)
    await this.pump().catch((error: unknown) => this.close(`send failed: ${String(error)}`))
    return this.finished()
  }

  /** The peer is known to hold `vector` (it sent us those events): never send them back. */
  peerHolds(vector: Readonly<VersionVector>): void {
    for (const [origin, seq] of Object.entries(vector)) {
      if (seq > (this.sent[origin] ?? 0)) this.sent[origin] = seq
      if (seq > (this.acked[origin] ?? 0)) this.acked[origin] = seq
    }
  }

  offer(events: readonly EventRecord[], fromPeer: string | undefined): void {
    if (this.closed || !this.handshake || fromPeer === this.peer.peerId) return
    if (this.liveCount + events.length > this.components.settings.liveQueueEvents) {
      // The peer is slow: stop buffering, the pump reads the backlog from the store.
      this.live.clear()
      this.liveCount = 0
    } else {
      for (const event of events) {
        if (event.seq <= (this.sent[event.origin] ?? 0) || this.isBlocked(event)) continue
        let queue = this.live.get(event.origin)
        if (!queue) this.live.set(event.origin, (queue = []))
        queue.push(event)
        this.liveCount++
      }
    }
    this.wakeup.notify()
  }

  poke(): void {
    this.wakeup.notify()
  }

  protected override onFrame(frame: Frame): void {
    switch (frame.t) {
      case 'hello':
        if (this.handshake || !this.helloWaiter) return this.reject('a second hello')
        this.helloWaiter(frame)
        this.helloWaiter = undefined
        return
      case 'refuse': {
        const reason = `refused by the peer: ${frame.reason}`
        this.logger.warn('replication peer refused this node', { reason: frame.reason })
        this.refuse(reason, false)
        return
      }
      case 'ack':
        if (!this.handshake) return this.reject('an ack before the hello')
        return this.onAck(frame)
      default:
        return this.reject(`a '${frame.t}' frame on the sending side of the stream`)
    }
  }

  protected override onTick(now: number): void {
    if (this.handshake) this.frames.write({ t: 'ping', at: now })
  }

  protected override onClosed(): void {
    this.unsubscribe?.()
    this.helloWaiter?.(undefined)
    this.helloWaiter = undefined
    this.live.clear()
  }

  private onAck(frame: {
    n: number
    received?: number
    vector: VersionVector
    echo?: number
  }): void {
    const received = frame.received ?? frame.n
    if (received > this.lastSentN) return this.reject(`an ack of frame ${received} never sent`)
    let newest: InFlight | undefined
    while (this.inFlight.length > 0 && this.inFlight[0]!.n <= received) {
      newest = this.inFlight.shift()!
      this.inFlightBytes -= newest.bytes
    }
    if (newest) this.adaptWindow(this.components.clock.now() - newest.sentAt, newest.bytes)
    for (const [origin, seq] of Object.entries(frame.vector)) {
      if (seq > (this.acked[origin] ?? 0)) this.acked[origin] = seq
      if (seq > (this.sent[origin] ?? 0)) this.sent[origin] = seq
    }
    if (frame.n === this.lastSentN) {
      // Nothing in flight: whatever the peer still lacks below what was sent, it refused
      // (a gap it could not fill then). Send it again.
      for (const [origin, seq] of Object.entries(this.sent))
        if (seq > (this.acked[origin] ?? 0)) this.sent[origin] = this.acked[origin] ?? 0
    }
    if (frame.echo !== undefined) this.peer.rtt(this.components.clock.now() - frame.echo)
    this.peer.holds(this.acked)
    this.wakeup.notify()
  }

  /** Delay-based window: additive growth while acks are quick, halving when they lag. */
  private adaptWindow(latencyMs: number, ackedBytes: number): void {
    const { ackLatencyTargetMs, maxUnackedBytes } = this.components.settings
    const floor = Math.min(MIN_WINDOW_BYTES, maxUnackedBytes)
    if (latencyMs > 2 * ackLatencyTargetMs) this.window = Math.max(floor, this.window / 2)
    else if (latencyMs < ackLatencyTargetMs)
      this.window = Math.min(maxUnackedBytes, this.window + ackedBytes)
  }

  private async pump(): Promise<void> {
    const { settings } = this.components
    while (!this.closed) {
      if (this.frames.needsDrain) {
        await this.frames.writable()
        continue
      }
      if (this.inFlightBytes >= this.window) {
        await this.wakeup.wait()
        continue
      }
      const batch = await this.nextBatch(settings.eventsPerFrame)
      if (this.closed) return
      if (batch.length === 0) {
        await this.wakeup.wait()
        continue
      }
      this.send(batch, this.hasMore())
    }
  }

  /** True when events the peer lacks are ready to send (catch-up is under way). */
  private hasMore(): boolean {
    for (const [origin, held] of Object.entries(this.components.feed.known))
      if (this.sendableUpTo(origin, held) > (this.sent[origin] ?? 0)) return true
    return false
  }

  /** The highest seq of `origin` that may be sent: below an event that cannot be framed. */
  private sendableUpTo(origin: string, held: number): number {
    const stuckAt = this.blocked.get(origin)
    if (stuckAt === undefined) return held
    if ((this.acked[origin] ?? 0) >= stuckAt) {
      // The peer got that event by another path: the origin flows again.
      this.blocked.delete(origin)
      return held
    }
    return Math.min(held, stuckAt - 1)
  }

  /** Up to `room` events the peer lacks, per origin in seq order, from the live queue or the store. */
  private async nextBatch(room: number): Promise<EventRecord[]> {
    const { feed, log } = this.components
    const batch: EventRecord[] = []
    for (const [origin, known] of Object.entries(feed.known)) {
      if (batch.length >= room) break
      const held = this.sendableUpTo(origin, known)
      let next = (this.sent[origin] ?? 0) + 1
      if (next > held) continue
      const queue = this.live.get(origin)
      if (queue) {
        let skip = 0
        while (skip < queue.length && queue[skip]!.seq < next) skip++
        let take = skip
        while (
          take < queue.length &&
          queue[take]!.seq === next &&
          next <= held &&
          batch.length < room
        ) {
          batch.push(queue[take]!)
          next++
          take++
        }
        queue.splice(0, take)
        this.liveCount -= take
        if (queue.length === 0) this.live.delete(origin)
        if (take > skip || batch.length >= room) {
          this.sent[origin] = next - 1
          continue
        }
      }
      const limit = Math.min(room - batch.length, held - next + 1)
      const events = await log.readOrigin(origin, next, limit)
      if (this.closed) return []
      for (const event of events) {
        if (event.seq !== next) break
        batch.push(event)
        next++
      }
      this.sent[origin] = next - 1
    }
    return batch
  }

  /**
   * Frames and sends `batch`. When it cannot be framed, it is halved until every part can,
   * or until the one event that cannot is alone: that event is skipped and reported, and
   * everything else still goes out. A failure to encode never ends the session (it would
   * redial, pick the same batch and fail again, forever).
   */
  private send(batch: EventRecord[], more: boolean): void {
    const events = this.blocked.size > 0 ? batch.filter((e) => !this.isBlocked(e)) : batch
    if (events.length === 0) return
    const n = this.lastSentN + 1
    let bytes: Uint8Array
    try {
      bytes = encodeFrame({ t: 'events', n, events, ...(more ? { more } : {}) })
    } catch (error) {
      if (events.length > 1) {
        const half = Math.ceil(events.length / 2)
        this.send(events.slice(0, half), true)
        this.send(events.slice(half), more)
        return
      }
      const event = events[0]!
      this.blocked.set(event.origin, event.seq)
      this.peer.unframable(event, error)
      return
    }
    this.lastSentN = n
    this.inFlight.push({ n, bytes: bytes.byteLength, sentAt: this.components.clock.now() })
    this.inFlightBytes += bytes.byteLength
    this.frames.writeEncoded(bytes)
    this.peer.counted('out', events.length)
    const { taps, clock } = this.components
    if (taps.wants('replication.out'))
      taps.publish({
        kind: 'replication.out',
        at: clock.now(),
        peer: this.peer.peerId,
        geo: this.peer.geo,
        events: events.length,
      })
  }

  private isBlocked(event: EventRecord): boolean {
    const stuckAt = this.blocked.get(event.origin)
    return stuckAt !== undefined && event.seq >= stuckAt
  }
}

/**
 * The receiving side of replication from one peer, over a stream the peer opened: answers
 * the hello with this geo's vector, validates and ingests each events frame in order, and
 * acknowledges with the vector after each ingest.
 */
export class PullSession extends Session {
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

  constructor(stream: Stream, peer: SessionPeer, components: SessionComponents) {
    super('pull', stream, peer, components)
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
          return this.reject('an event stamped more than MAX_HLC_DRIFT_MS in the future')
        this.lastN = frame.n
        this.queue.push({ n: frame.n, events: frame.events, bytes, more: frame.more === true })
        this.queuedBytes += bytes
        this.queuedEvents += frame.events.length
        if (this.queuedBytes > this.components.settings.maxQueuedBytes)
          return this.reject('the sender ignored the flow-control window')
        this.scheduleReceipt()
        this.wakeup.notify()
        return
      }
      case 'ping':
        this.echo = frame.at
        this.ackWanted = true
        this.wakeup.notify()
        return
      default:
        return this.reject(`a '${frame.t}' frame on the receiving side of the stream`)
    }
  }

  protected override onTick(): void {}

  private onHello(hello: HelloFrame): void {
    const mismatch = helloMismatch(this.components, hello)
    if (mismatch) {
      this.logger.warn('replication peer refused: handshake mismatch', { reason: mismatch })
      this.refuse(mismatch, true)
      return
    }
    this.handshake = hello
    this.peer.holds(hello.vector)
    // Reply with the vector once the store answers; frames that arrive meanwhile queue up.
    this.ackWanted = false
    this.components.log.versionVector().then(
      (vector) => {
        if (this.closed) return
        const { appName, geo, nodeId } = this.components
        this.frames.write({
          t: 'hello',
          protocol: PROTOCOL_VERSION,
          app: appName,
          geo,
          node: nodeId,
          vector,
        })
        this.replied = true
        this.peer.handshook('pull', hello)
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

  /** Acknowledges receipt at the end of this turn (one ack for every frame read in it). */
  private scheduleReceipt(): void {
    if (this.receiptScheduled) return
    this.receiptScheduled = true
    setImmediate(() => {
      this.receiptScheduled = false
      const received = this.receivable()
      if (this.closed || received <= this.receivedAcked) return
      this.sendAck(this.processedN, this.lastVector, undefined)
    })
  }

  private sendAck(n: number, vector: VersionVector, echo: number | undefined): void {
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
    const { ingest, log, settings, taps, clock, feed } = this.components
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
      let n = this.processedN
      while (this.queue.length > 0 && events.length < settings.ingestBatchEvents) {
        const item = this.queue.shift()!
        this.queuedBytes -= item.bytes
        this.queuedEvents -= item.events.length
        for (const event of item.events) events.push(event)
        n = item.n
      }
      this.ackWanted = false
      if (events.length > 0) {
        const accepted = await ingest.ingest(events, { from: this.peer.peerId })
        if (this.closed) return
        // Order matters: the link learns what the peer holds before the feed offers the
        // events to the sending sessions, and counts (and checks the heal) after both.
        this.peer.holds(vectorOf(events))
        feed.add(accepted, this.peer.peerId)
        this.peer.counted('in', accepted.length)
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
      this.processedN = n
      this.lastVector = vector
      const echo = this.echo
      this.echo = undefined
      this.sendAck(n, vector, echo)
    }
  }
}

/** The highest seq per origin among `events` (the sender holds everything up to each). */
function vectorOf(events: readonly EventRecord[]): VersionVector {
  const vector: VersionVector = {}
  for (const event of events)
    if (event.seq > (vector[event.origin] ?? 0)) vector[event.origin] = event.seq
  return vector
}
