import type { Stream } from '@libp2p/interface'
import { MAX_SIGNED_CHUNK_EVENTS, type EventRecord, type VersionVector } from '../../core/index.js'
import { cutRelayed, keepSigs, sealOwnRuns, unsignedSeq } from './event-signing.js'
import {
  encodeFrame,
  MAX_EVENTS_PER_FRAME,
  statusFrame,
  type Frame,
  type HelloFrame,
} from './frames.js'
import type { LocalFeedListener } from './local-feed.js'
import { noticeFrame } from './retirement-notice.js'
import { SendWindow } from './send-window.js'
import { sharedKeys } from './retired-origins.js'
import {
  ReplicationSession,
  type SessionComponents,
  type SessionPeer,
  type SessionResult,
} from './session.js'

/**
 * The side of replication that sends this geo's events to one peer, over a stream this
 * node opened: hello, catch-up of exactly what the peer's vector lacks (read from the
 * store in batches), then live push of the events the `LocalFeed` offers; a window of
 * unacknowledged bytes and the stream's `drain` events bound what is buffered, and each
 * ack (answering a ping: anti-entropy) re-sends what the peer turned out to lack.
 */
export class ReplicationSender extends ReplicationSession implements LocalFeedListener {
  /** Highest seq per origin sent on this stream (or known to be held by the peer). */
  private readonly sent: VersionVector = {}
  private acked: VersionVector = {}
  private readonly live = new Map<string, EventRecord[]>()
  private liveCount = 0
  private readonly window: SendWindow
  /** Per origin, the seq of an event that cannot be framed: nothing from it on is sent. */
  private readonly blocked = new Map<string, number>()
  private unsubscribe: (() => void) | undefined
  private unsubscribeNotices: (() => void) | undefined
  private helloWaiter: ((hello: HelloFrame | undefined) => void) | undefined

  constructor(stream: Stream, peer: SessionPeer, components: SessionComponents) {
    super('sender', stream, peer, components)
    this.window = new SendWindow(components.settings)
  }

  /** Runs the session until its stream ends. */
  async run(): Promise<SessionResult> {
    const { localFeed, retired } = this.components
    // The hello leaves out the origins every notice held retires; the peer's answer leaves
    // out those of the notices both hold alike, and names the digest of each it holds.
    const base = retired.snapshot
    this.sendHello({ ...localFeed.known }, base, Object.keys(base.digests))
    const hello = await new Promise<HelloFrame | undefined>((resolve) => {
      if (this.closed) return resolve(undefined)
      this.helloWaiter = resolve
    })
    if (!hello || this.closed || !this.acceptHello(hello, false)) return this.finished()
    const keys = sharedKeys(base, hello.bases)
    const vector = this.peerVector(hello, base, keys)
    const notices = retired.lackedBy(hello.bases)
    this.reportHello(hello, base, keys, notices.length)
    this.acked = { ...vector }
    Object.assign(this.sent, vector)
    this.peer.holds(vector)
    this.peer.handshook('sender', { ...hello, vector })
    // The notices go before any event (a receiver takes events of an origin its key's
    // notice lists), and each newer one as it comes.
    for (const notice of notices) this.frames.write(noticeFrame(notice))
    this.unsubscribeNotices = retired.subscribe((notice) => {
      if (!this.closed) this.frames.write(noticeFrame(notice))
    })
    this.unsubscribe = localFeed.subscribe(this)
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

  /** Queues the events the peer lacks for live push (not those that came from it). */
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

  /** The local vector advanced without records: the pump reads them from the store. */
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
    if (!this.handshake) return
    // Relayed events held back for relayDelayMs go out at a tick once the delay is over.
    this.wakeup.notify()
    this.frames.write({ t: 'ping', at: now })
    const advert = this.components.advert?.()
    if (advert) this.frames.write(statusFrame(advert))
  }

  protected override onClosed(): void {
    this.unsubscribe?.()
    this.unsubscribeNotices?.()
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
    if (!this.window.acked(received, this.components.clock.now()))
      return this.reject(`an ack of frame ${received} never sent`)
    for (const [origin, seq] of Object.entries(frame.vector)) {
      if (seq > (this.acked[origin] ?? 0)) this.acked[origin] = seq
      if (seq > (this.sent[origin] ?? 0)) this.sent[origin] = seq
    }
    if (frame.n === this.window.lastSent) {
      // Nothing in flight: whatever the peer still lacks below what was sent, it refused
      // (a gap it could not fill then). Send it again.
      for (const [origin, seq] of Object.entries(this.sent))
        if (seq > (this.acked[origin] ?? 0)) this.sent[origin] = this.acked[origin] ?? 0
    }
    if (frame.echo !== undefined) this.peer.rtt(this.components.clock.now() - frame.echo)
    this.peer.holds(this.acked)
    this.wakeup.notify()
  }

  private async pump(): Promise<void> {
    const { settings } = this.components
    while (!this.closed) {
      if (this.frames.needsDrain) {
        await this.frames.writable()
        continue
      }
      if (this.window.full) {
        await this.wakeup.wait()
        continue
      }
      const batch = await this.nextBatch(settings.eventsPerFrame)
      if (this.closed) return
      if (batch.length === 0) {
        await this.wakeup.wait()
        continue
      }
      // A full batch says more is ready (catch-up): the receiver may wait to ingest them together.
      this.send(batch, batch.length >= settings.eventsPerFrame)
    }
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

  /**
   * Up to `room` events the peer lacks, per origin in seq order, from the live queue or the
   * store. This node's own events are signed when sent (`send`); another origin's go as the
   * whole signed chunks they arrived in (a relayed run may start before what the peer lacks).
   */
  private async nextBatch(room: number): Promise<EventRecord[]> {
    const { localFeed, isOwn, signer, settings, clock } = this.components
    const batch: EventRecord[] = []
    const relayBefore = clock.now() - settings.relayDelayMs
    // Up to what the feed offered: events it is still gathering come with its next batch.
    for (const [origin, offered] of Object.entries(localFeed.offered)) {
      if (batch.length >= room) break
      // Another origin's events wait relayDelayMs: the peer may get them from their origin.
      const own = isOwn(origin)
      const known =
        own || settings.relayDelayMs === 0
          ? offered
          : Math.min(offered, localFeed.knownAt(origin, relayBefore))
      const held = this.sendableUpTo(origin, known)
      const next = (this.sent[origin] ?? 0) + 1
      if (next > held) continue
      if (own && !signer) {
        this.block(next, origin, 'this node has no fabric key to sign its own events with')
        continue
      }
      const live = this.takeLive(origin, next, held, room - batch.length)
      const run = own
        ? live.length > 0
          ? live
          : await this.readRun(origin, next, Math.min(room - batch.length, held - next + 1))
        : await this.relayedRun(origin, next, held, room - batch.length, batch.length === 0, live)
      if (this.closed) return []
      if (run.length === 0) continue
      batch.push(...run)
      this.sent[origin] = run[run.length - 1]!.seq
    }
    return batch
  }

  /** The live queue's events of `origin` from `next` on (consecutive seqs), removed from the queue. */
  private takeLive(origin: string, next: number, held: number, room: number): EventRecord[] {
    const queue = this.live.get(origin)
    if (!queue) return []
    let skip = 0
    while (skip < queue.length && queue[skip]!.seq < next) skip++
    let take = skip
    while (take < queue.length && queue[take]!.seq === next + take - skip) {
      if (queue[take]!.seq > held || take - skip >= room) break
      take++
    }
    const run = queue.slice(skip, take)
    queue.splice(0, take)
    this.liveCount -= take
    if (queue.length === 0) this.live.delete(origin)
    return run
  }

  /** Up to `limit` stored events of `origin` from `from` on, stopping at the first gap. */
  private async readRun(origin: string, from: number, limit: number): Promise<EventRecord[]> {
    const events = await this.components.log.readOrigin(origin, from, limit)
    let end = 0
    while (end < events.length && events[end]!.seq === from + end) end++
    return events.slice(0, end)
  }

  /**
   * A run of another origin's events for a frame: whole signed chunks that cover `next` on
   * (from the live queue when it holds them, else from the store, read again from where
   * the chunk began when it began earlier), keeping only the signatures of those chunks.
   * At most `room` events unless `first` (an empty frame takes at least one chunk). An
   * origin no signature covers is held back from that seq, and reported once.
   */
  private async relayedRun(
    origin: string,
    next: number,
    held: number,
    room: number,
    first: boolean,
    live: readonly EventRecord[],
  ): Promise<EventRecord[]> {
    const fits = (count: number) => count <= room || (first && count <= MAX_EVENTS_PER_FRAME)
    if (live.length > 0) {
      const cut = cutRelayed(live, next, room)
      if (cut.kind === 'take' && cut.start + cut.count === live.length && fits(cut.count))
        return keepSigs(live.slice(cut.start), cut.ends)
    }
    const readAhead = MAX_SIGNED_CHUNK_EVENTS - 1
    let from = next
    let events = await this.readRun(origin, from, Math.min(room + readAhead, held - next + 1))
    let cut = cutRelayed(events, next, room)
    if (cut.kind === 'readFrom') {
      from = cut.seq
      events = await this.readRun(
        origin,
        from,
        Math.min(next - from + room + readAhead, held - from + 1),
      )
      cut = cutRelayed(events, next, room)
    }
    if (this.closed) return []
    if (cut.kind !== 'take') {
      if (events.length > 0 && events[events.length - 1]!.seq >= Math.min(held, next + readAhead))
        this.block(
          events[0]!.seq >= next ? next : from,
          origin,
          'no signature of its origin covers it',
        )
      return []
    }
    if (!fits(cut.count)) return []
    return keepSigs(events.slice(cut.start, cut.start + cut.count), cut.ends)
  }

  /** Holds back `origin` from `seq` on for this peer, and reports why. */
  private block(seq: number, origin: string, why: string): void {
    this.blocked.set(origin, seq)
    this.peer.heldBack(origin, seq, why)
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
    const n = this.window.lastSent + 1
    let bytes: Uint8Array
    try {
      const uncovered = unsignedSeq(events, this.components.isOwn)
      if (uncovered) {
        // A part of a halved batch that cut a relayed chunk: send it again, whole, later.
        const { origin, seq } = uncovered
        if ((this.sent[origin] ?? 0) >= seq) this.sent[origin] = seq - 1
        const rest = events.filter((e) => e.origin !== origin)
        if (rest.length > 0) this.send(rest, more)
        return
      }
      bytes = encodeFrame({
        t: 'events',
        n,
        events: this.sealOwn(events),
        ...(more ? { more } : {}),
      })
    } catch (error) {
      if (events.length > 1) {
        const half = Math.ceil(events.length / 2)
        this.send(events.slice(0, half), true)
        this.send(events.slice(half), more)
        return
      }
      const event = events[0]!
      this.block(
        event.seq,
        event.origin,
        `it cannot be framed: ${error instanceof Error ? error.message : String(error)}`,
      )
      return
    }
    this.window.sent(bytes.byteLength, this.components.clock.now())
    this.frames.writeEncoded(bytes)
    this.peer.counted('out', events.length, bytes.byteLength)
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

  /** `events` with each own origin's run signed (a chunk per frame, so halves are signed anew). */
  private sealOwn(events: EventRecord[]): EventRecord[] {
    const { isOwn, signer } = this.components
    return sealOwnRuns(events, isOwn, (run) => {
      if (!signer) throw new Error('this node has no key to sign its events with')
      return signer.seal(run)
    }) as EventRecord[]
  }

  private isBlocked(event: EventRecord): boolean {
    const stuckAt = this.blocked.get(event.origin)
    return stuckAt !== undefined && event.seq >= stuckAt
  }
}
