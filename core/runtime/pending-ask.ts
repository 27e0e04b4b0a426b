import { AbortedError } from '../errors.js'

/** The caller's side of an ask: settles once, cancels its deadline and abort listener when it does. */
export class PendingAsk {
  cancelTimer: (() => void) | undefined
  private settled = false
  private signal: AbortSignal | undefined
  private onAbort: (() => void) | undefined

  constructor(
    private readonly settleResolve: (reply: unknown) => void,
    private readonly settleReject: (error: unknown) => void,
  ) {}

  /** Rejects with AbortedError when `signal` aborts first. */
  abortOn(signal: AbortSignal, what: string): void {
    this.signal = signal
    this.onAbort = () =>
      this.reject(new AbortedError(`${what} was aborted`, { cause: signal.reason }))
    signal.addEventListener('abort', this.onAbort, { once: true })
  }

  /** Settles the ask with its reply (ignored once settled). */
  resolve(reply: unknown): void {
    if (this.finish()) this.settleResolve(reply)
  }

  /** Settles the ask with a failure (ignored once settled). */
  reject(error: unknown): void {
    if (this.finish()) this.settleReject(error)
  }

  private finish(): boolean {
    if (this.settled) return false
    this.settled = true
    this.cancelTimer?.()
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort)
    return true
  }
}
