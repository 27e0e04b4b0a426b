/** Longest `Idempotency-Key` header accepted. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 256
/** Keys remembered by default; the least recently used are forgotten first. */
export const DEFAULT_IDEMPOTENCY_KEYS = 100_000

/**
 * Remembers the outcome of commands sent with an `Idempotency-Key`: a retry with the same
 * key gets the first reply, and a retry that arrives while the first is still running
 * waits for it. Only successes are remembered: a failed command may be retried for real.
 * Held in memory, so bounded: keys survive neither a restart nor a move to another node.
 */
export class IdempotencyCache {
  private readonly entries = new Map<string, Promise<unknown>>()

  constructor(private readonly capacity = DEFAULT_IDEMPOTENCY_KEYS) {}

  /** Runs `fn` once per key; returns its (possibly remembered) result. */
  run(key: string, fn: () => Promise<unknown>): { result: Promise<unknown>; replayed: boolean } {
    const known = this.entries.get(key)
    if (known) {
      this.entries.delete(key)
      this.entries.set(key, known)
      return { result: known, replayed: true }
    }
    const result = fn()
    this.entries.set(key, result)
    result.catch(() => this.entries.delete(key))
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    return { result, replayed: false }
  }

  get size(): number {
    return this.entries.size
  }
}
