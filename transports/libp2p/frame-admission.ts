// What a receiver takes of a peer's frames, before anything is queued: events of origins it
// accepts, each covered by its origin's signature, of origins within their key's bound; and
// the retirement notices the peer passes on.
import type { EventRecord, Logger, VersionVector } from '../../core/index.js'
import type { EventRefusal } from './event-signing.js'
import type { NoticeFrame } from './frames.js'
import type { SessionComponents, SessionPeer } from './session.js'

/**
 * Most origins a session passes over (not allowlisted, or over their key's bound) before it
 * closes the stream.
 */
export const MAX_PASSED_OVER_ORIGINS = 1_000

/** The admission checks of one receiving session. */
export class FrameAdmission {
  /**
   * Per origin passed over in this session, the highest seq: acknowledged as if held, so
   * that the sender does not send them again and again (the next session asks again).
   */
  readonly passedOver: VersionVector = {}

  constructor(
    private readonly components: SessionComponents,
    private readonly peer: SessionPeer,
    private readonly logger: Logger,
    /** Closes the stream with a `frame.rejected`. */
    private readonly reject: (reason: string) => void,
  ) {}

  /**
   * The events of a frame this node takes: those of origins it does not allowlist are passed
   * over (a relay with a wider allowlist sent them), then every other one must be covered by
   * its origin's signature (or the frame is refused), then those of an origin over its key's
   * bound are passed over. Undefined when the frame is refused (the stream is closing).
   */
  admit(
    frameEvents: EventRecord[],
    frameWire: readonly Uint8Array[] | undefined,
  ): EventRecord[] | undefined {
    const { verifier } = this.components
    let events = frameEvents
    let wire = frameWire
    if (events.some((e) => verifier.isForeign(e.origin))) {
      const foreign = events.filter((e) => verifier.isForeign(e.origin))
      if (!this.passOver(foreign, 'foreign')) return undefined
      wire = wire?.filter((_, i) => !verifier.isForeign(events[i]!.origin))
      events = events.filter((e) => !verifier.isForeign(e.origin))
    }
    const refusal = verifier.check(events, wire)
    if (refusal) {
      this.refuseEvents(refusal)
      return undefined
    }
    const unlisted = this.unlistedOrigins(events)
    if (!unlisted) return events
    if (
      !this.passOver(
        events.filter((e) => unlisted.has(e.origin)),
        'unlisted',
      )
    )
      return undefined
    return events.filter((e) => !unlisted.has(e.origin))
  }

  /**
   * A key's retirement notice: kept when newer (it changes this node's base; the senders
   * pass it on). One that fails its checks closes the stream; one of a key this node does
   * not accept (a relay with a wider allowlist) is passed over.
   */
  notice(frame: NoticeFrame): void {
    const receipt = this.components.retired.receive(frame.key, frame.body, frame.sig)
    if (receipt.kind === 'refused') {
      this.logger.warn('retirement notice refused', {
        peer: this.peer.peerId,
        key: frame.key,
        reason: receipt.reason,
      })
      return this.reject(`retirement notice of ${frame.key} refused: ${receipt.reason}`)
    }
    if (receipt.kind === 'foreign')
      this.logger.debug('retirement notice of a key this node does not accept; passed over', {
        key: frame.key,
      })
  }

  /**
   * Events not taken: reported once per origin, and acknowledged as if held for the rest of
   * the session. False (the stream is closed) past MAX_PASSED_OVER_ORIGINS origins.
   */
  private passOver(events: readonly EventRecord[], why: 'foreign' | 'unlisted'): boolean {
    for (const event of events) {
      const seen = this.passedOver[event.origin]
      if (seen === undefined) {
        if (Object.keys(this.passedOver).length >= MAX_PASSED_OVER_ORIGINS) {
          this.reject(
            `events of more than ${MAX_PASSED_OVER_ORIGINS} origins this node does not allowlist or that are over maxLiveOriginsPerKey`,
          )
          return false
        }
        if (why === 'foreign')
          this.logger.warn(
            "replicated events not taken: their origin's PeerId is not on this node's allowlist (add it, without an address, to take events it writes)",
            { peer: this.peer.peerId, origin: event.origin },
          )
        else this.refuseUnlisted(event)
      }
      if (event.seq > (seen ?? 0)) this.passedOver[event.origin] = event.seq
    }
    return true
  }

  /**
   * The origins of `events` over the bound of unlisted origins of their key (neither live
   * nor retired in its newest notice, and not held here yet), or undefined when none is.
   */
  private unlistedOrigins(events: readonly EventRecord[]): Set<string> | undefined {
    const { retired, localFeed } = this.components
    let refused: Set<string> | undefined
    let last: string | undefined
    for (const { origin } of events) {
      if (origin === last || refused?.has(origin)) continue
      last = origin
      if (!retired.admits(origin, localFeed.known)) (refused ??= new Set()).add(origin)
    }
    return refused
  }

  /** An origin over the bound of its key: its events are not taken (tap, log naming the peer). */
  private refuseUnlisted(event: EventRecord): void {
    const { taps, clock, settings } = this.components
    const reason = `its key already writes under ${settings.maxLiveOriginsPerKey} origins that its newest retirement notice does not list (fabric.maxLiveOriginsPerKey)`
    this.logger.warn('replicated events not taken: too many unlisted origins of their key', {
      peer: this.peer.peerId,
      geo: this.peer.geo,
      origin: event.origin,
      reason,
    })
    taps.publish({
      kind: 'event.refused',
      at: clock.now(),
      peer: this.peer.peerId,
      origin: event.origin,
      seq: event.seq,
      reason,
    })
  }

  /**
   * Events not signed by the key their origin names (forged, altered, or from an origin
   * this geo does not accept): nothing of the frame is stored, and the stream closes (the
   * redial backoff bounds what the peer costs).
   */
  private refuseEvents(refusal: EventRefusal): void {
    const { taps, clock } = this.components
    const { origin, seq, reason } = refusal
    this.logger.warn('replicated events refused: not signed by their origin', {
      peer: this.peer.peerId,
      geo: this.peer.geo,
      event: `${origin}:${seq}`,
      reason,
    })
    taps.publish({
      kind: 'event.refused',
      at: clock.now(),
      peer: this.peer.peerId,
      origin,
      seq,
      reason,
    })
    this.reject(`event ${origin}:${seq} refused: ${reason}`)
  }
}
