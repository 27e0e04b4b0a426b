// A small seeded PRNG (mulberry32) for adversarial runs: the same seed gives the same run.

/** A seed from an env variable when set (replay), else a fresh one. */
export function seedFrom(envValue: string | undefined): number {
  if (envValue !== undefined && envValue.trim() !== '') {
    const seed = Number(envValue)
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new Error(`a seed must be a non-negative integer, got '${envValue}'`)
    return seed >>> 0
  }
  return Math.floor(Math.random() * 0xffff_ffff) >>> 0
}

/** A positive integer from an env variable, else `fallback`. */
export function countFrom(envValue: string | undefined, fallback: number): number {
  if (envValue === undefined || envValue.trim() === '') return fallback
  const count = Number(envValue)
  if (!Number.isSafeInteger(count) || count < 1)
    throw new Error(`expected a positive integer, got '${envValue}'`)
  return count
}

/** Deterministic randomness from one 32-bit seed. */
export class SeededRandom {
  private state: number

  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  /** A child generator: case `i` of a run draws from `fork(i)`, so it replays alone. */
  fork(salt: number): SeededRandom {
    return new SeededRandom(
      (Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) + salt * 0xc2b2ae35) >>> 0,
    )
  }
}
