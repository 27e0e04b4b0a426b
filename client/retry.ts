// When and how long a client call waits before trying again.
import {
  type AnywhereClientError,
  ClientAbortedError,
  ClientTimeoutError,
  NetworkError,
  ResponseTooLargeError,
} from './errors.js'

/** How a call is retried. */
export interface RetryInit {
  /** Retries after the first attempt (so `retries + 1` attempts at most). Default 3. */
  readonly retries?: number
  /** Wait before the first retry, doubled for each further one. Default 100 ms. */
  readonly baseDelayMs?: number
  /** Longest wait between two attempts. Default 2 s. */
  readonly maxDelayMs?: number
}

export type RetryPolicy = Required<RetryInit>

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 2_000 }

/** The statuses that say "try again later": the request may or may not have been applied. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504])

/** The policy with defaults filled in; a negative or fractional count is refused. */
export function retryPolicy(init: RetryInit = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...init }
  for (const [field, value] of Object.entries(policy))
    if (!Number.isInteger(value) || value < 0)
      throw new TypeError(`retry.${field} must be a non-negative integer, got ${String(value)}`)
  return policy
}

/**
 * Whether a failed attempt may be tried again: no answer at all (network, attempt timeout)
 * or 502/503/504. A 4xx never is: the same request would be refused the same way.
 */
export function isRetryable(error: AnywhereClientError): boolean {
  if (error instanceof NetworkError || error instanceof ClientTimeoutError) return true
  // A 503 whose body is over the bound is not the gateway's answer: the same request would bring it again.
  if (error instanceof ResponseTooLargeError) return false
  return error.status !== undefined && RETRYABLE_STATUSES.has(error.status)
}

/** The wait before retry number `retry` (0-based): exponential, capped, with jitter. */
export function backoffMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry)
  // Half fixed, half random: retries of many clients spread out instead of arriving together.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/** Waits `ms`, or rejects with ClientAbortedError as soon as `signal` fires. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal))
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortedError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The signal of one attempt: fires when the caller aborts or the attempt's deadline passes. */
export function attemptSignal(
  timeoutMs: number,
  caller?: AbortSignal,
): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController()
  let timedOut = false
  const onAbort = () => controller.abort(caller?.reason)
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  if (caller?.aborted) onAbort()
  else caller?.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer)
      caller?.removeEventListener('abort', onAbort)
    },
  }
}

export function abortedError(signal: AbortSignal): ClientAbortedError {
  return new ClientAbortedError('the call was aborted by its signal', { cause: signal.reason })
}
