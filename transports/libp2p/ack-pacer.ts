import type { Clock } from '../../core/index.js'

/**
 * When a receiver acks: acks are cumulative, so under load one per `intervalMs` says all a
 * sender needs (its window, what the peer holds). The first ack after a quiet spell goes at
 * once; later ones are gathered into one at the end of the interval.
 */
export class AckPacer {
  private lastAckAt = Number.NEGATIVE_INFINITY
  private cancelTimer: (() => void) | undefined

  /** `send(echo)` writes the ack (with a ping's `at` to echo, if any). */
  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly send: (echo: number | undefined) => void,
  ) {}

  /** Acks at once when the last ack is an interval old, else once it is. */
  soon(): void {
    if (this.cancelTimer) return
    const wait = this.lastAckAt + this.intervalMs - this.clock.now()
    if (wait <= 0) return this.now(undefined)
    this.cancelTimer = this.clock.setTimer(wait, () => {
      this.cancelTimer = undefined
      this.now(undefined)
    })
  }

  /** Acks at once (a ping's answer measures the round trip: it never waits). */
  now(echo: number | undefined): void {
    this.stop()
    this.lastAckAt = this.clock.now()
    this.send(echo)
  }

  /** Cancels a gathered ack (the session ended). */
  stop(): void {
    this.cancelTimer?.()
    this.cancelTimer = undefined
  }
}
