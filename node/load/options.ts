import { z } from 'zod'

/** The value of every overload setting the user leaves out. */
export const OVERLOAD_DEFAULTS = {
  sampleMs: 250,
  maxEventLoopDelayMs: 500,
  maxInFlight: 1024,
  maxMailboxBacklog: 10_000,
  maxStoreAppendMs: 1_000,
  tripAfterSamples: 2,
  recoverBelow: 0.7,
  recoverAfterMs: 2_000,
  storeProbeMs: 1_000,
  storeProbeTimeoutMs: 2_000,
} as const

const D = OVERLOAD_DEFAULTS
const positiveInt = z.number().int().positive()

/**
 * When a node calls itself overloaded (`overload` in the node config). Every `sampleMs`
 * each signal is compared with its limit; past a limit for `tripAfterSamples` samples in a
 * row the node is overloaded (`/readyz` answers 503 `overloaded`, tap `geo.overloaded`); it
 * recovers once every signal has stayed under `recoverBelow` of its limit for
 * `recoverAfterMs` (tap `geo.recovered`). The gap between the two is the hysteresis that
 * keeps an edge from flapping.
 */
export const overloadInitSchema = z
  .object({
    /** How often the signals are sampled. */
    sampleMs: positiveInt.min(10).default(D.sampleMs),
    /** Event-loop delay (p99 over one sample window, `perf_hooks.monitorEventLoopDelay`). */
    maxEventLoopDelayMs: positiveInt.default(D.maxEventLoopDelayMs),
    /** HTTP requests in flight at the gateway (tap streams and probes not counted). */
    maxInFlight: positiveInt.default(D.maxInFlight),
    /** Messages waiting in all actors' mailboxes together. */
    maxMailboxBacklog: positiveInt.default(D.maxMailboxBacklog),
    /** Store append latency: the mean of one window's appends, or the age of one still pending. */
    maxStoreAppendMs: positiveInt.default(D.maxStoreAppendMs),
    /** Samples in a row past a limit before the node is overloaded. */
    tripAfterSamples: positiveInt.max(100).default(D.tripAfterSamples),
    /** Fraction of each limit every signal must stay under to recover. */
    recoverBelow: z.number().gt(0).max(1).default(D.recoverBelow),
    /** How long every signal must stay under `recoverBelow` before the node recovers. */
    recoverAfterMs: z.number().int().nonnegative().default(D.recoverAfterMs),
    /** How often the store is asked (its version vector) to tell it is reachable. */
    storeProbeMs: positiveInt.min(10).default(D.storeProbeMs),
    /** A store probe not answered within this is a store that is unavailable. */
    storeProbeTimeoutMs: positiveInt.default(D.storeProbeTimeoutMs),
  })
  .strict()

/** The overload settings as a user writes them: every field is optional. */
export type OverloadInit = z.input<typeof overloadInitSchema>
/** The overload settings with every default filled in. */
export type OverloadOptions = z.output<typeof overloadInitSchema>
