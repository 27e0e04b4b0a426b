// Abort handling, AbortSignal first (as js-libp2p does): one way to stop waiting.
import { AbortedError } from '../core/errors.js'

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
  if (signal.aborted)
    return Promise.reject(new AbortedError(`${what} was aborted`, { cause: signal.reason }))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(`${what} was aborted`, { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
