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
