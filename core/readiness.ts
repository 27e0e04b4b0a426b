/**
 * Why a node cannot take writes now (`GET /readyz` answers 503 with it):
 * - `starting`: the node has not finished starting;
 * - `draining`: the node is stopping and lets in-flight requests finish;
 * - `store-unavailable`: the event store does not answer;
 * - `overloaded`: a load signal is past its limit (see `LoadSignal`).
 */
export type UnreadyReason = 'starting' | 'draining' | 'store-unavailable' | 'overloaded'

/** Every `UnreadyReason`, in the order they are checked. */
export const UNREADY_REASONS: readonly UnreadyReason[] = [
  'starting',
  'draining',
  'store-unavailable',
  'overloaded',
]

/** The cheap signals a node watches to know it is overloaded. */
export type LoadSignal = 'eventLoopDelay' | 'inFlight' | 'mailboxBacklog' | 'storeAppend'

/** Every `LoadSignal`. */
export const LOAD_SIGNALS: readonly LoadSignal[] = [
  'eventLoopDelay',
  'inFlight',
  'mailboxBacklog',
  'storeAppend',
]

/** One signal's last sample against its limit. */
export interface LoadSample {
  readonly value: number
  readonly limit: number
}

/** How loaded a node is now. */
export interface LoadReport {
  /**
   * The highest `value / limit` over the signals: 1 or more is past a limit. A node that
   * is overloaded stays so until every signal is back under the recovery fraction.
   */
  readonly load: number
  readonly overloaded: boolean
  /** The signal that tripped the overload (while overloaded). */
  readonly trippedBy?: LoadSignal
  /**
   * The share of the requests reaching this node directly that it hands to another geo (0
   * unless overloaded): it grows each sample while overloaded, by how far the load is past
   * the recovery point, and drops to 0 once recovered.
   */
  readonly shedShare: number
  readonly signals: Readonly<Record<LoadSignal, LoadSample>>
}

/** Whether a node can take writes now, and why not. */
export interface ReadinessState {
  readonly ready: boolean
  /** Set when not ready. */
  readonly reason?: UnreadyReason
  readonly load: LoadReport
}

/** What `/readyz` and the fabric read to tell whether this node can take writes now. */
export interface Readiness {
  /** The state now (cheap: read from the last samples, never waits). */
  state(): ReadinessState
}
