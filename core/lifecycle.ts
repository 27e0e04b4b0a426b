import { open } from 'node:fs/promises'
import { AbortedError } from './errors.js'

/** Anything that holds a resource. `stop()` is idempotent and releases sockets, timers and files. */
export interface Startable {
  /** Acquires the resources; resolves when ready. */
  start(): Promise<void>
  /** Releases every resource; safe to call more than once. */
  stop(): Promise<void>
}

/** Options of every call that may block. */
export interface AbortOptions {
  signal?: AbortSignal
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
  if (signal.aborted) return Promise.reject(new AbortedError(what, { cause: signal.reason }))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(what, { cause: signal.reason }))
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

/** The defaults overlaid with the fields `init` sets (an `undefined` field keeps its default). */
export function applyDefaults<D extends object>(defaults: D, init: Partial<D>): D {
  const set = Object.fromEntries(Object.entries(init).filter(([, value]) => value !== undefined))
  return { ...defaults, ...set } as D
}

/** Makes a created, renamed or removed name in `dir` durable (fsync of the directory). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
