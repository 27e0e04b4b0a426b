/** Wall time and timers, injected so tests can drive time themselves. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  /** Runs `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

/** The real clock: `Date.now()` and unref'd Node timers (they never keep a process alive). */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer(ms, fn) {
      const timer = setTimeout(fn, ms)
      timer.unref()
      return () => clearTimeout(timer)
    },
  }
}

/** A clock that moves only when told to: `advance(ms)` fires the timers that fall due. */
export interface SimulatedClock extends Clock {
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void
  /** Sets the wall time without firing timers (to simulate skew). */
  set(now: number): void
}

export function simulatedClock(start = 1_700_000_000_000): SimulatedClock {
  let now = start
  let nextId = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => now,
    set(value) {
      now = value
    },
    setTimer(ms, fn) {
      const id = nextId++
      timers.set(id, { at: now + ms, fn })
      return () => timers.delete(id)
    },
    advance(ms) {
      const until = now + ms
      for (;;) {
        let due: [number, { at: number; fn: () => void }] | undefined
        for (const entry of timers)
          if (entry[1].at <= until && (!due || entry[1].at < due[1].at)) due = entry
        if (!due) break
        timers.delete(due[0])
        now = Math.max(now, due[1].at)
        due[1].fn()
      }
      now = until
    },
  }
}
