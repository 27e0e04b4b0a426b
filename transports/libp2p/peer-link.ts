import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { countMissing, dominates, type GeoAdvert, type VersionVector } from '../../core/index.js'
import { REPLICATION_PROTOCOL, type HelloFrame } from './frames.js'
import { ReplicationReceiver } from './replication-receiver.js'
import { ReplicationSender } from './replication-sender.js'
import { DialFailures, isWrongIdentity } from './dial-failures.js'
import type { LinkSettings } from './options.js'
import type {
  HelloSizes,
  Libp2pPeerStatus,
  SessionComponents,
  SessionPeer,
  SessionResult,
  SessionRole,
} from './session.js'

/** A sender that lasted this long resets the backoff. */
export const STABLE_SESSION_MS = 10_000

/** The redial delay after `failures` consecutive failures: exponential, capped, jittered in [50%, 100%]. */
export function backoffDelay(failures: number, settings: LinkSettings): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30)
  const ceiling = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** exponent)
  return Math.round(ceiling * (0.5 + settings.random() * 0.5))
}

interface Healing {
  /** When the link came back. */
  startedAt: number
  /** How long it was down. */
  durationMs: number
  /** What this geo held at reconnect: the peer must acknowledge it. */
  outTarget: VersionVector
  /** What the peer held at reconnect: this geo must hold it. */
  inTarget: VersionVector
  eventsIn: number
  eventsOut: number
}

/**
 * One allowlisted peer geo: the dial loop that keeps a `ReplicationSender` open to it
 * (redialled with backoff and jitter, forever), the `ReplicationReceiver` of the stream it
 * opened to us, and what we know of it (its vector, connectivity, round trip, partition
 * and heal).
 */
export class PeerLink implements SessionPeer {
  geo: string
  private sender: ReplicationSender | undefined
  private receiver: ReplicationReceiver | undefined
  private senderUp = false
  private receiverUp = false
  /** The peer's vector as far as this node knows. */
  private acked: VersionVector = {}
  private connected = false
  private since: number
  /** When the last partition began (set once the link had been up). */
  private lostAt: number | undefined
  private healing: Healing | undefined
  private rttMs: number | undefined
  private advert: (GeoAdvert & { receivedAt: number }) | undefined
  private readonly dialFailures: DialFailures
  /** Per origin, the seq of an event that cannot be framed, until the peer holds it. */
  private readonly blocked = new Map<string, number>()
  private unframableEvents = 0
  /** What crossed the link, for metrics: plain counters a scrape reads through status(). */
  private readonly hellos: { sender?: HelloSizes; receiver?: HelloSizes } = {}
  private readonly traffic = { eventsIn: 0, eventsOut: 0, bytesIn: 0, bytesOut: 0, reconnects: 0 }
  private loop: Promise<void> | undefined
  private stopping = false
  private wake: (() => void) | undefined
  private readonly stopController = new AbortController()

  constructor(
    readonly peerId: string,
    private readonly remote: PeerId,
    geo: string | undefined,
    private readonly node: Libp2p,
    private readonly components: SessionComponents,
    private readonly settings: LinkSettings,
  ) {
    this.geo = geo ?? 'unknown'
    this.since = components.clock.now()
    this.dialFailures = new DialFailures(components.clock, components.logger, () => ({
      peer: this.peerId,
      peerGeo: this.geo,
    }))
  }

  /** Starts the dial loop. */
  start(): void {
    this.loop ??= this.run()
  }

  /** Ends both sessions and the dial loop. */
  async stop(): Promise<void> {
    if (this.stopping) return this.loop
    this.stopping = true
    this.stopController.abort()
    this.wake?.()
    this.sender?.close('the fabric is stopping')
    this.receiver?.close('the fabric is stopping')
    await this.loop
  }

  /** Cuts short a redial wait (the peer just connected to us). */
  nudge(): void {
    this.wake?.()
  }

  /** Serves a stream the peer opened: a receiver of its events, replacing any older one. */
  acceptInbound(stream: Stream): void {
    if (this.stopping) {
      stream.abort(new Error('the fabric is stopping'))
      return
    }
    const previous = this.receiver
    const session = new ReplicationReceiver(stream, this, this.components)
    this.receiver = session
    previous?.close('replaced by a newer stream from the same peer')
    void session.run().then((result) => {
      if (this.receiver !== session) return
      this.receiver = undefined
      this.receiverUp = false
      this.maybeDown(result.reason)
    })
  }

  /** Both directions of replication with the peer completed their hello exchange. */
  get handshookBoth(): boolean {
    return this.senderUp && this.receiverUp
  }

  /** The peer's vector as this node knows it. */
  get vector(): Readonly<VersionVector> {
    return this.acked
  }

  status(): Libp2pPeerStatus {
    const { localFeed } = this.components
    const rtt = this.node.getConnections(this.remote).find((c) => c.rtt !== undefined)?.rtt
    const rttMs = rtt ?? this.rttMs
    return {
      geo: this.geo,
      peerId: this.peerId,
      connected: this.connected,
      lagEvents: countMissing(localFeed.known, this.acked),
      lagMs: localFeed.lagMs(this.acked),
      ...(rttMs !== undefined ? { rttMs } : {}),
      since: this.since,
      ...(this.dialFailures.lastError !== undefined
        ? { lastError: this.dialFailures.lastError }
        : {}),
      traffic: { ...this.traffic },
      ...(this.advert ? { advert: this.advert } : {}),
      unframableEvents: this.unframableEvents,
      blockedOrigins: Object.fromEntries(this.blocked),
      hellos: { ...this.hellos },
    }
  }

  // SessionPeer: what the sessions report.

  helloSizes(role: SessionRole, sizes: HelloSizes): void {
    this.hellos[role] = sizes
  }

  handshook(role: SessionRole, hello: HelloFrame): void {
    if (this.geo !== hello.geo) {
      if (this.geo !== 'unknown')
        this.components.logger.warn('peer announced another geo than configured', {
          peer: this.peerId,
          configured: this.geo,
          announced: hello.geo,
        })
      this.geo = hello.geo
    }
    if (role === 'sender') this.senderUp = true
    else this.receiverUp = true
    this.dialFailures.handshook()
    if (this.healing && role === 'receiver')
      for (const [origin, seq] of Object.entries(hello.vector))
        if (seq > (this.healing.inTarget[origin] ?? 0)) this.healing.inTarget[origin] = seq
    if (this.connected) return
    const { clock, taps, logger, localFeed } = this.components
    const now = clock.now()
    this.connected = true
    this.since = now
    // `peerGeo`, not `geo`: every line already names this node's own geo.
    logger.info('fabric peer connected', { peer: this.peerId, peerGeo: this.geo })
    taps.publish({ kind: 'peer.connected', at: now, peer: this.peerId, geo: this.geo })
    if (this.lostAt !== undefined) {
      this.traffic.reconnects++
      this.healing = {
        startedAt: now,
        durationMs: now - this.lostAt,
        outTarget: { ...localFeed.known },
        inTarget: { ...hello.vector },
        eventsIn: 0,
        eventsOut: 0,
      }
      this.checkHealed()
    }
  }

  holds(vector: Readonly<VersionVector>): void {
    let advanced = false
    for (const [origin, seq] of Object.entries(vector))
      if (seq > (this.acked[origin] ?? 0)) {
        this.acked[origin] = seq
        advanced = true
      }
    if (advanced) {
      this.sender?.peerHolds(vector)
      for (const [origin, seq] of this.blocked)
        if ((this.acked[origin] ?? 0) >= seq) this.blocked.delete(origin)
    }
    if (this.healing) this.checkHealed()
  }

  counted(direction: 'in' | 'out', events: number, bytes: number): void {
    if (direction === 'in') {
      this.traffic.eventsIn += events
      this.traffic.bytesIn += bytes
    } else {
      this.traffic.eventsOut += events
      this.traffic.bytesOut += bytes
    }
    if (!this.healing) return
    if (direction === 'in') this.healing.eventsIn += events
    else this.healing.eventsOut += events
    if (direction === 'in') this.checkHealed()
  }

  advertised(advert: GeoAdvert): void {
    const { urls, ready, reason, load } = advert
    this.advert = {
      urls: [...urls],
      ready,
      ...(reason !== undefined ? { reason } : {}),
      load,
      receivedAt: this.components.clock.now(),
    }
  }

  rtt(ms: number): void {
    this.rttMs = ms
  }

  refused(reason: string): void {
    const { clock, taps } = this.components
    taps.publish({ kind: 'peer.refused', at: clock.now(), peer: this.peerId, reason })
  }

  heldBack(origin: string, seq: number, why: string): void {
    // Every new session finds the same event again: report it once.
    if (this.blocked.get(origin) === seq) return
    this.blocked.set(origin, seq)
    this.unframableEvents++
    const { clock, taps, logger } = this.components
    const where = `${origin}:${seq}`
    logger.error(
      `event ${where} cannot be sent (${why}); it is skipped, and ${this.peerId} gets no later event of origin ${origin} (it stores no gaps) until it holds this one`,
      { peer: this.peerId, peerGeo: this.geo, event: where },
    )
    taps.publish({
      kind: 'frame.rejected',
      at: clock.now(),
      peer: this.peerId,
      reason: `event ${where} cannot be sent (${why}): origin ${origin} is held back from it on`,
    })
  }

  private checkHealed(): void {
    const healing = this.healing
    if (!healing) return
    const { localFeed, clock, taps, logger } = this.components
    if (!dominates(this.acked, healing.outTarget) || !dominates(localFeed.known, healing.inTarget))
      return
    this.healing = undefined
    const now = clock.now()
    const healed = {
      peer: this.peerId,
      geo: this.geo,
      durationMs: healing.durationMs,
      eventsIn: healing.eventsIn,
      eventsOut: healing.eventsOut,
      convergeMs: now - healing.startedAt,
    }
    const { peer, geo: peerGeo, ...figures } = healed
    logger.info('fabric partition healed', { peer, peerGeo, ...figures })
    taps.publish({ kind: 'partition.healed', at: now, ...healed })
  }

  private maybeDown(reason: string): void {
    if (!this.connected || this.senderUp || this.receiverUp) return
    const { clock, taps, logger } = this.components
    const now = clock.now()
    this.connected = false
    this.since = now
    // A partition that began before an unfinished heal keeps its start.
    this.lostAt = this.healing ? this.healing.startedAt - this.healing.durationMs : now
    this.healing = undefined
    logger.warn('fabric peer lost', { peer: this.peerId, peerGeo: this.geo, reason })
    taps.publish({ kind: 'peer.lost', at: now, peer: this.peerId, geo: this.geo, reason })
  }

  private async run(): Promise<void> {
    let failures = 0
    while (!this.stopping) {
      const startedAt = this.components.clock.now()
      const result = await this.attempt()
      if (this.stopping) return
      if (!result.handshook) this.dialFailures.failed(result.reason, result.wrongIdentity === true)
      // A session that ends soon after its handshake (e.g. the peer's store keeps failing)
      // counts as a failure too, so it is retried with backoff, not in a tight loop.
      const lasted = this.components.clock.now() - startedAt
      const healthy = result.handshook && lasted >= STABLE_SESSION_MS
      failures = healthy ? 0 : failures + 1
      const delay = result.refused
        ? this.settings.backoffMaxMs
        : backoffDelay(failures, this.settings)
      this.components.logger.debug('fabric redial scheduled', {
        peer: this.peerId,
        delayMs: delay,
        reason: result.reason,
      })
      await this.pause(delay)
    }
  }

  /** One dial and, if it works, one sender until it ends. Never throws. */
  private async attempt(): Promise<SessionResult & { wrongIdentity?: boolean }> {
    const { clock } = this.components
    const deadline = new AbortController()
    const cancelTimer = clock.setTimer(this.settings.dialTimeoutMs, () =>
      deadline.abort(new Error(`no connection within ${this.settings.dialTimeoutMs} ms`)),
    )
    const signal = AbortSignal.any([deadline.signal, this.stopController.signal])
    let stream: Stream
    try {
      const connection = await this.node.dial(this.remote, { signal })
      stream = await connection.newStream(REPLICATION_PROTOCOL, { signal })
    } catch (error) {
      return {
        handshook: false,
        refused: false,
        reason: (error as Error).message,
        wrongIdentity: isWrongIdentity(error),
      }
    } finally {
      cancelTimer()
    }
    if (this.stopping) {
      stream.abort(new Error('the fabric is stopping'))
      return { handshook: false, refused: false, reason: 'stopping' }
    }
    const session = new ReplicationSender(stream, this, this.components)
    this.sender = session
    const result = await session.run()
    if (this.sender === session) {
      this.sender = undefined
      this.senderUp = false
    }
    this.maybeDown(result.reason)
    return result
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.components.clock.setTimer(ms, done)
      function done() {
        cancel()
        resolve()
      }
      this.wake = () => {
        this.wake = undefined
        done()
      }
    })
  }
}
