import type { Clock } from './clock.js'

/**
 * A hybrid logical clock stamp: wall milliseconds plus a counter that orders
 * stamps taken within the same millisecond (or while the wall clock lags).
 */
export interface Hlc {
  readonly wall: number
  readonly logical: number
}

/** Orders two stamps; negative when `a` is earlier. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical
}

/** The largest drift accepted from a remote stamp before it is refused (guards against a broken clock). */
export const MAX_HLC_DRIFT_MS = 24 * 60 * 60 * 1000

/**
 * Issues stamps that never go backwards and that sort after every stamp this node has
 * observed, so a locally written event always sorts after everything the node knew.
 */
export class HybridLogicalClock {
  private last: Hlc = { wall: 0, logical: 0 }

  constructor(private readonly clock: Clock) {}

  /** A new stamp, later than every stamp issued or observed before. */
  now(): Hlc {
    const wall = this.clock.now()
    this.last =
      wall > this.last.wall
        ? { wall, logical: 0 }
        : { wall: this.last.wall, logical: this.last.logical + 1 }
    return this.last
  }

  /** Moves the clock past a stamp seen elsewhere (a replicated or recovered event). */
  observe(remote: Hlc): void {
    if (compareHlc(remote, this.last) > 0) this.last = remote
  }

  /** The latest stamp issued or observed. */
  peek(): Hlc {
    return this.last
  }
}
