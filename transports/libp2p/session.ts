import type { Stream } from '@libp2p/interface'
import {
  AbortedError,
  type Clock,
  type EventIngest,
  type EventLog,
  type GeoAdvert,
  type Logger,
  type PeerStatus,
  type Taps,
  type VersionVector,
} from '../../core/index.js'
import { FrameStream } from './frame-stream.js'
import { MAX_HELLO_ORIGINS, MAX_VECTOR_ORIGINS, type Frame, type HelloFrame } from './frames.js'
import { helloFrame, helloMismatch } from './hello.js'
import type { EventVerifier, OwnEventSigner } from './event-signing.js'
import type { LocalFeed } from './local-feed.js'
import type { ReplicationSettings } from './options.js'
import {
  compactVector,
  expandVector,
  type RetiredBase,
  type RetiredOrigins,
} from './retired-origins.js'

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
  /** What this geo holds; senders subscribe to it for new events, receivers add to it. */
  localFeed: LocalFeed
  /**
   * The origins this node signs as it sends their events: its own, and in a geo of several
   * nodes every origin of the geo (each names the geo's key; see docs/fabric.md).
   */
  isOwn: (origin: string) => boolean
  /** Signs this node's events; undefined when its origin names no key of its (they stay here). */
  signer: OwnEventSigner | undefined
  /** Checks that every received event is signed by the key its origin names. */
  verifier: EventVerifier
  /** Retirement notices: the base hellos leave out, and the bound on unlisted origins per key. */
  retired: RetiredOrigins
  settings: ReplicationSettings
  /** What this geo advertises to the peer every heartbeat (the sender sends it). */
  advert?: () => GeoAdvert
}

/** Which direction a session replicates: this geo's events out, or the peer's in. */
export type SessionRole = 'sender' | 'receiver'

/** How a session reports to the link of its peer. */
export interface SessionPeer {
  readonly peerId: string
  /** The peer's geo (configured or learned from its hello). */
  readonly geo: string
  /** The hello exchange succeeded; `hello.vector` is the peer's whole vector (expanded). */
  handshook(role: SessionRole, hello: HelloFrame): void
  /** What the hello exchange of a session carried (origins each way, bytes received). */
  helloSizes(role: SessionRole, sizes: HelloSizes): void
  /** The peer holds at least `vector`. */
  holds(vector: Readonly<VersionVector>): void
  /** Counts events sent to or taken from the peer, and the frame bytes that carried them. */
  counted(direction: 'in' | 'out', events: number, bytes: number): void
  /** A measured round trip. */
  rtt(ms: number): void
  /** The peer advertised its geo (a `status` frame, validated). */
  advertised(advert: GeoAdvert): void
  /** The handshake was refused (by either side), with why. */
  refused(reason: string): void
  /**
   * Event `origin:seq` cannot be sent (`why`: it cannot be framed, or no signature of its
   * origin covers it): the session skips it and sends no later event of its origin, since
   * the peer would not store them past the gap.
   */
  heldBack(origin: string, seq: number, why: string): void
}

/** What one hello exchange carried. */
export interface HelloSizes {
  /** Origins this node's hello announced explicitly. */
  readonly sentOrigins: number
  /** Origins the peer's hello announced explicitly. */
  readonly receivedOrigins: number
  /** Bytes of the peer's hello, over all its frames. */
  readonly receivedBytes: number
  /** Both sides held the same retirement notices (the hellos left out every retired origin both hold alike). */
  readonly sharedBase: boolean
  /** Retirement notices the sender passed on after the hello (none when the bases were the same). */
  readonly notices: number
}

/** One peer as the libp2p fabric reports it: `PeerStatus` and what cannot replicate to it. */
export interface Libp2pPeerStatus extends PeerStatus {
  /** Events this node found it cannot frame for the peer (each `origin:seq` counted once). */
  readonly unframableEvents: number
  /**
   * Per origin, the seq of an event that cannot be framed: the peer gets nothing of that
   * origin from it on (it stores no gaps), and `lagEvents` shows them as missing.
   */
  readonly blockedOrigins: Readonly<Record<string, number>>
  /**
   * What the last hello exchange of each direction carried: origins each way (a hello leaves
   * out the base of retired origins both sides share), bytes received, whether the base was
   * shared.
   */
  readonly hellos: { readonly sender?: HelloSizes; readonly receiver?: HelloSizes }
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

/** A one-slot wake-up: `notify()` before `wait()` is not lost. */
export class Wakeup {
  private pending = false
  private resolve: (() => void) | undefined

  /** Wakes the waiter, or the next one to wait. */
  notify(): void {
    if (this.resolve) {
      const resolve = this.resolve
      this.resolve = undefined
      resolve()
    } else this.pending = true
  }

  /** Resolves at the next `notify()` (at once if one is pending). */
  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise((resolve) => (this.resolve = resolve))
  }
}

/**
 * What both directions of replication share: the frame stream, the hello exchange, the
 * silence watchdog, rejecting and refusing, and the end.
 */
export abstract class ReplicationSession {
  protected readonly frames: FrameStream
  protected readonly wakeup = new Wakeup()
  protected closed = false
  protected handshake: HelloFrame | undefined
  protected refusedReason: string | undefined
  protected lastHeardAt: number
  protected readonly logger: Logger
  /** Origins this node's hello announced. */
  protected helloSentOrigins = 0
  /** Bytes of the peer's hello so far, over its pages. */
  protected helloReceivedBytes = 0
  /** A hello whose vector is still arriving in `vector` frames. */
  private pendingHello: { hello: HelloFrame; vector: VersionVector; origins: number } | undefined
  private endReason = 'closed'
  private cancelTimer: (() => void) | undefined
  private readonly done: Promise<void>
  private resolveDone!: () => void

  constructor(
    protected readonly role: SessionRole,
    stream: Stream,
    protected readonly peer: SessionPeer,
    protected readonly components: SessionComponents,
  ) {
    this.logger = components.logger.child({ peer: peer.peerId, session: role })
    this.lastHeardAt = components.clock.now()
    this.done = new Promise((resolve) => (this.resolveDone = resolve))
    this.frames = new FrameStream(stream, {
      onFrame: (frame, bytes) => {
        this.lastHeardAt = this.components.clock.now()
        if (!this.handshake && (frame.t === 'hello' || frame.t === 'vector'))
          this.helloReceivedBytes += bytes
        const whole = this.assembleHello(frame)
        if (whole) this.onFrame(whole, bytes)
      },
      onClose: (error, rejected) => this.onStreamClosed(error, rejected),
    })
    this.scheduleTick()
  }

  /** Closes the session (idempotent). */
  close(reason: string): void {
    if (this.closed) return
    this.endReason = reason
    this.frames.abort(
      new AbortedError(`replication session with ${this.peer.peerId}: ${reason} was aborted`),
    )
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

  /**
   * Sends this node's hello, announcing `vector` in pages of MAX_VECTOR_ORIGINS origins,
   * without the origins the notices of `keys` retire at the seq held here; `bases` names
   * the digest of every notice this node holds.
   */
  protected sendHello(vector: VersionVector, base: RetiredBase, keys: readonly string[]): void {
    const entries = Object.entries(compactVector(vector, base, keys))
    this.helloSentOrigins = entries.length
    const page = (from: number) =>
      Object.fromEntries(entries.slice(from, from + MAX_VECTOR_ORIGINS))
    const more = (from: number) =>
      from + MAX_VECTOR_ORIGINS < entries.length ? { more: true as const } : {}
    this.frames.write({
      ...helloFrame(this.components, page(0)),
      bases: base.digests,
      ...more(0),
    })
    for (let from = MAX_VECTOR_ORIGINS; from < entries.length; from += MAX_VECTOR_ORIGINS)
      this.frames.write({ t: 'vector', vector: page(from), ...more(from) })
  }

  /**
   * Puts a paged hello back together: the frame to handle (a whole hello, or any other
   * frame), or undefined while pages are still to come. A `vector` frame outside a hello,
   * or a hello of more than MAX_HELLO_ORIGINS origins, is rejected.
   */
  private assembleHello(frame: Frame): Frame | undefined {
    if (frame.t === 'hello' && frame.more) {
      if (this.pendingHello || this.handshake) return frame // the subclass rejects a second hello
      this.pendingHello = {
        hello: frame,
        vector: { ...frame.vector },
        origins: Object.keys(frame.vector).length,
      }
      return undefined
    }
    if (frame.t !== 'vector') return frame
    const pending = this.pendingHello
    if (!pending) {
      this.reject("a 'vector' frame that no hello announced")
      return undefined
    }
    for (const [origin, seq] of Object.entries(frame.vector)) {
      if (origin === '__proto__') continue
      if (pending.vector[origin] === undefined) pending.origins++
      pending.vector[origin] = seq
    }
    if (pending.origins > MAX_HELLO_ORIGINS) {
      this.reject(`a hello of more than ${MAX_HELLO_ORIGINS} origins`)
      return undefined
    }
    if (frame.more) return undefined
    this.pendingHello = undefined
    const { more: _more, ...hello } = pending.hello
    return { ...hello, vector: pending.vector }
  }

  /**
   * The peer's vector from its hello, read against the notices of `keys` (those both sides
   * hold alike): exact when the peer compacted against no others (a receiver's answer);
   * otherwise less than it holds (a sender's hello compacted against a notice this node
   * holds otherwise or not at all), which is safe: this node then only sends more.
   */
  protected peerVector(
    hello: HelloFrame,
    base: RetiredBase,
    keys: readonly string[],
  ): VersionVector {
    return expandVector(hello.vector, base, keys)
  }

  /** Tells the link what the hello exchange carried (once both hellos went). */
  protected reportHello(
    hello: HelloFrame,
    base: RetiredBase,
    keys: readonly string[],
    notices = 0,
  ): void {
    const theirs = Object.keys(hello.bases ?? {}).length
    this.peer.helloSizes(this.role, {
      sentOrigins: this.helloSentOrigins,
      receivedOrigins: Object.keys(hello.vector).length,
      receivedBytes: this.helloReceivedBytes,
      sharedBase: keys.length === theirs && keys.length === Object.keys(base.digests).length,
      notices,
    })
  }

  /**
   * Checks the peer's hello: on a mismatch, refuses it (telling the peer when `tellPeer`,
   * i.e. when we are the receiver) and returns false; otherwise records the handshake.
   */
  protected acceptHello(hello: HelloFrame, tellPeer: boolean): boolean {
    const mismatch = helloMismatch(this.components, hello)
    if (mismatch) {
      this.logger.warn('replication peer refused: handshake mismatch', { reason: mismatch })
      this.refuse(mismatch, tellPeer)
      return false
    }
    this.handshake = hello
    return true
  }

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

  /** Releases what the session holds besides the stream; called once, when it ends. */
  protected onClosed(): void {}

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
