// The sender's window: the frames sent and not yet acknowledged, and how many bytes of them
// may be in flight. Delay-based: it grows by what an ack acknowledged while acks come back
// quickly, and halves when they lag (a slow or congested link), never below a floor.

/** The sender's window never shrinks below this. */
export const MIN_WINDOW_BYTES = 256 * 1024

interface InFlight {
  n: number
  bytes: number
  sentAt: number
}

export class SendWindow {
  private readonly inFlight: InFlight[] = []
  private inFlightBytes = 0
  private window: number
  /** The number of the last frame sent (frames are numbered from 1). */
  lastSent = 0

  constructor(private readonly settings: { maxUnackedBytes: number; ackLatencyTargetMs: number }) {
    // Open fully: loopback and LAN-like links never need less; a slow link halves it quickly.
    this.window = settings.maxUnackedBytes
  }

  /** Whether the bytes in flight fill the window: send nothing more until an ack. */
  get full(): boolean {
    return this.inFlightBytes >= this.window
  }

  /** Frame `lastSent + 1`, of `bytes`, is sent at `now`. */
  sent(bytes: number, now: number): void {
    this.lastSent++
    this.inFlight.push({ n: this.lastSent, bytes, sentAt: now })
    this.inFlightBytes += bytes
  }

  /** Frames up to `received` are acknowledged at `now`; false when `received` was never sent. */
  acked(received: number, now: number): boolean {
    if (received > this.lastSent) return false
    let newest: InFlight | undefined
    while (this.inFlight.length > 0 && this.inFlight[0]!.n <= received) {
      newest = this.inFlight.shift()!
      this.inFlightBytes -= newest.bytes
    }
    if (newest) this.adapt(now - newest.sentAt, newest.bytes)
    return true
  }

  private adapt(latencyMs: number, ackedBytes: number): void {
    const { ackLatencyTargetMs, maxUnackedBytes } = this.settings
    const floor = Math.min(MIN_WINDOW_BYTES, maxUnackedBytes)
    if (latencyMs > 2 * ackLatencyTargetMs) this.window = Math.max(floor, this.window / 2)
    else if (latencyMs < ackLatencyTargetMs)
      this.window = Math.min(maxUnackedBytes, this.window + ackedBytes)
  }
}
