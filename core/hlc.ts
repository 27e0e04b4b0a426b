import type { Clock } from './clock.js'

/**
 * A hybrid logical clock stamp (Kulkarni et al., 2014): wall milliseconds plus a counter
 * that orders stamps taken within the same millisecond (or while the wall clock lags).
 */
export interface Hlc {
  readonly wall: number
  readonly logical: number
}

/** Orders two stamps; negative when `a` is earlier. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical
}

/** Largest HLC logical counter accepted: stores keep it in 32 bits. */
export const MAX_HLC_LOGICAL = 2 ** 32 - 1

/**
 * A replicated event stamped further in the future than this is refused outright (its
 * frame is rejected): no honest clock is a day off. Closer ones beyond the clock's skew
 * bound are held back until the local clock catches up.
 */
export const MAX_HLC_DRIFT_MS = 24 * 60 * 60 * 1000

/**
 * How far ahead of the local wall clock a remote stamp may be and still be merged, by
 * default: NTP keeps honest clocks within milliseconds, a minute covers a badly drifting one.
 */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000

export interface HybridLogicalClockOptions {
  /** Remote stamps further ahead of the wall clock than this are not merged (default `DEFAULT_MAX_CLOCK_SKEW_MS`). */
  maxSkewMs?: number
}

/**
 * Issues stamps that never go backwards and that sort after every stamp this node has
 * merged, so a locally written event sorts after everything the node stored. No peer can
 * push it around: a remote stamp further ahead than `maxSkewMs` is not merged, and the
 * logical counter never passes MAX_HLC_LOGICAL (the wall part moves on by 1 ms instead).
 */
export class HybridLogicalClock {
  /** Remote stamps further ahead of the wall clock than this are not merged. */
  readonly maxSkewMs: number
  private last: Hlc = { wall: 0, logical: 0 }

  constructor(
    private readonly clock: Clock,
    options: HybridLogicalClockOptions = {},
  ) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
  }

  /** A new stamp, later than every stamp issued or merged before. */
  now(): Hlc {
    const wall = this.clock.now()
    this.last = wall > this.last.wall ? { wall, logical: 0 } : successor(this.last)
    return this.last
  }

  /** True when `stamp` is no further ahead of the wall clock than `maxSkewMs`. */
  withinSkew(stamp: Hlc): boolean {
    return stamp.wall <= this.clock.now() + this.maxSkewMs
  }

  /**
   * Moves the clock past a stamp of a stored event (replicated, recovered or read back).
   * A stamp beyond the skew bound is not merged and false is returned: the caller decides
   * what to do with its event.
   */
  observe(remote: Hlc): boolean {
    if (!this.withinSkew(remote)) return false
    if (compareHlc(remote, this.last) > 0) this.last = remote
    return true
  }

  /**
   * Moves the clock past a stamp of this node's OWN stored event, whatever its distance: an
   * origin's events must keep sorting in seq order, so a node never stamps an event before
   * one it wrote already, even one stamped by a clock that was wrong.
   */
  observeOwn(stamp: Hlc): void {
    if (compareHlc(stamp, this.last) > 0) this.last = stamp
  }

  /** The latest stamp issued or merged. */
  peek(): Hlc {
    return this.last
  }
}

/** The next stamp after `stamp` in the same millisecond, or the next millisecond when its counter is full. */
function successor(stamp: Hlc): Hlc {
  return stamp.logical >= MAX_HLC_LOGICAL
    ? { wall: stamp.wall + 1, logical: 0 }
    : { wall: stamp.wall, logical: stamp.logical + 1 }
}
