import {
  AskCycleError,
  HandlerError,
  IdempotencyKeyReusedError,
  NotRunningError,
  OverloadedError,
  PayloadTooLargeError,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
} from '../../core/index.js'

/**
 * Failures that certainly wrote nothing: refused before the handler ran, or a handler that
 * threw (its events are never appended). Every other failure, a timed-out ask, a store that
 * did not answer (its append may have landed), an abort, leaves the outcome unknown.
 */
const NOTHING_WRITTEN = [
  ValidationError,
  UnknownActorTypeError,
  UnknownCommandError,
  HandlerError,
  AskCycleError,
  OverloadedError,
  NotRunningError,
  PayloadTooLargeError,
] as const

function certainlyNotApplied(error: unknown): boolean {
  return NOTHING_WRITTEN.some((type) => error instanceof type)
}

/** Longest `Idempotency-Key` header accepted. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 256
/** Keys remembered by default; the least recently used are forgotten first. */
export const DEFAULT_IDEMPOTENCY_KEYS = 100_000

/**
 * Remembers the outcome of commands sent with an `Idempotency-Key`: a retry with the same
 * key gets the first reply, and a retry that arrives while the first is still running
 * waits for it. A command that certainly failed without taking effect may be retried for
 * real; one whose outcome is unknown (its ask timed out and it may still run, or the store
 * did not answer and the append may have landed) answers its retries with the same error.
 * Held in memory, so bounded: keys survive neither a restart nor a move to another node.
 */
export class IdempotencyCache {
  private readonly entries = new Map<string, { fingerprint: string; result: Promise<unknown> }>()

  constructor(private readonly capacity = DEFAULT_IDEMPOTENCY_KEYS) {}

  /**
   * Runs `fn` once per key; returns its (possibly remembered) result. `fingerprint` names the
   * request: a key that comes back with another fingerprint throws IdempotencyKeyReusedError.
   */
  run(
    key: string,
    fingerprint: string,
    fn: () => Promise<unknown>,
  ): { result: Promise<unknown>; replayed: boolean } {
    const known = this.entries.get(key)
    if (known) {
      if (known.fingerprint !== fingerprint)
        throw new IdempotencyKeyReusedError(
          'this Idempotency-Key was used for a request with another body: use a new key for a new operation',
        )
      this.entries.delete(key)
      this.entries.set(key, known)
      return { result: known.result, replayed: true }
    }
    const result = fn()
    const entry = { fingerprint, result }
    this.entries.set(key, entry)
    result.catch((error: unknown) => {
      // A command whose outcome is unknown keeps its key: a retry must not run it a second
      // time. Only a command that certainly did not take effect frees its key, and only if
      // the key still maps to it.
      if (certainlyNotApplied(error) && this.entries.get(key) === entry) this.entries.delete(key)
    })
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
