// Abort handling, AbortSignal first (as js-libp2p does): one way to stop waiting, used by
// every blocking call that takes `{ signal }`.
import { AbortedError } from '../core/errors.js'

/** The error a call that `signal` aborted fails with: `<what> was aborted`, the reason as cause. */
export function abortedError(signal: AbortSignal, what: string): AbortedError {
  return new AbortedError(`${what} was aborted`, { cause: signal.reason })
}

/** Throws the AbortedError of `what` when `signal` has already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what)
}

/**
 * Calls `fail` with the AbortedError of `what` once `signal` aborts (at once when it already
 * has). Returns the function that stops listening: call it when the work settles first.
 */
export function onAbort(
  signal: AbortSignal | undefined,
  what: string,
  fail: (error: AbortedError) => void,
): () => void {
  if (!signal) return noop
  if (signal.aborted) {
    fail(abortedError(signal, what))
    return noop
  }
  const listener = () => fail(abortedError(signal, what))
  signal.addEventListener('abort', listener, { once: true })
  return () => signal.removeEventListener('abort', listener)
}

/**
 * `promise`, or an AbortedError as soon as `signal` aborts (the work itself goes on; the
 * caller stops waiting for it).
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, what, reject)
    promise.then(
      (value) => {
        stop()
        resolve(value)
      },
      (error: unknown) => {
        stop()
        reject(error)
      },
    )
  })
}

function noop(): void {}
