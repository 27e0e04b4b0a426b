import { onAbort } from '../../support/abort.js'

/** The caller's side of an ask: settles once, cancels its deadline and abort listener when it does. */
export class PendingAsk {
  cancelTimer: (() => void) | undefined
  private settled = false
  private stopListening: (() => void) | undefined

  constructor(
    private readonly settleResolve: (reply: unknown) => void,
    private readonly settleReject: (error: unknown) => void,
  ) {}

  /** Rejects with AbortedError when `signal` aborts first (at once if it already has). */
  abortOn(signal: AbortSignal | undefined, what: string): void {
    this.stopListening = onAbort(signal, what, (error) => this.reject(error))
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
    this.stopListening?.()
    return true
  }
}
