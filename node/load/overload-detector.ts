import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import {
  LOAD_SIGNALS,
  type Clock,
  type LoadReport,
  type Logger,
  type LoadSample,
  type LoadSignal,
  type Startable,
  type Taps,
} from '../../core/index.js'
import type { OverloadOptions } from './options.js'

/** Where the detector reads each signal that is not its own (event-loop delay is). */
export interface LoadSources {
  /** Requests in flight at the gateway now. */
  inFlight(): number
  /** Messages queued in all mailboxes now. */
  mailboxBacklog(): number
  /** Store append latency over the window since the last call, in ms (the meter resets). */
  storeAppendMs(): number
}

export interface OverloadDetectorComponents {
  clock: Clock
  taps: Taps
  geo: string
  sources: LoadSources
  /** Told once when the node trips (which signal, every signal's value) and once when it recovers. */
  logger?: Logger
}

/** How fast the shed share grows per sample, per unit of load past the recovery point. */
const SHED_GAIN = 0.5
/** The largest share of its direct requests an overloaded node hands to other geos. */
const MAX_SHED_SHARE = 0.9

/** Highest event-loop delay the histogram records (a stall longer than this reads as this). */
const MAX_RECORDED_DELAY_MS = 60_000

/**
 * Samples the load signals every `sampleMs` and decides, with hysteresis, whether the node
 * is overloaded. `report()` is cheap (the last sample); tap `geo.overloaded` names the signal
 * that tripped, `geo.recovered` how long it lasted.
 */
export class OverloadDetector implements Startable {
  private histogram: IntervalHistogram | undefined
  private cancelTimer: (() => void) | undefined
  private overSamples = 0
  private calmSince: number | undefined
  private overloadedAt: number | undefined
  private trippedBy: LoadSignal | undefined
  private shedShare = 0
  private last: LoadReport

  constructor(
    private readonly options: OverloadOptions,
    private readonly components: OverloadDetectorComponents,
  ) {
    this.last = this.reportOf(this.emptySignals())
  }

  async start(): Promise<void> {
    if (this.histogram) return
    this.histogram = monitorEventLoopDelay({ resolution: 10 })
    this.histogram.enable()
    this.schedule()
  }

  async stop(): Promise<void> {
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.histogram?.disable()
    this.histogram = undefined
  }

  /** The load as of the last sample. */
  report(): LoadReport {
    return this.last
  }

  /** Takes one sample now (the timer calls it; tests may too). */
  sample(): LoadReport {
    const { options, components } = this
    const { sources } = components
    const eventLoopDelay = this.histogram
      ? Math.min(this.histogram.percentile(99) / 1e6, MAX_RECORDED_DELAY_MS)
      : 0
    this.histogram?.reset()
    const signals: Record<LoadSignal, LoadSample> = {
      eventLoopDelay: { value: round(eventLoopDelay), limit: options.maxEventLoopDelayMs },
      inFlight: { value: sources.inFlight(), limit: options.maxInFlight },
      mailboxBacklog: { value: sources.mailboxBacklog(), limit: options.maxMailboxBacklog },
      storeAppend: { value: round(sources.storeAppendMs()), limit: options.maxStoreAppendMs },
    }
    this.decide(signals)
    this.shedShare =
      this.trippedBy === undefined
        ? 0
        : Math.min(
            MAX_SHED_SHARE,
            this.shedShare +
              SHED_GAIN *
                Math.max(ratio(signals[worstSignal(signals)]) - options.recoverBelow, 0.1),
          )
    this.last = this.reportOf(signals)
    return this.last
  }

  private decide(signals: Record<LoadSignal, LoadSample>): void {
    const { options, components } = this
    const now = components.clock.now()
    const worst = worstSignal(signals)
    const worstRatio = ratio(signals[worst])
    if (this.trippedBy === undefined) {
      this.overSamples = worstRatio >= 1 ? this.overSamples + 1 : 0
      if (this.overSamples < options.tripAfterSamples) return
      this.trippedBy = worst
      this.overloadedAt = now
      this.calmSince = undefined
      components.logger?.warn('overloaded: sheds part of its requests and answers /readyz 503', {
        signal: worst,
        signals: valuesOf(signals),
      })
      components.taps.publish({
        kind: 'geo.overloaded',
        at: now,
        geo: components.geo,
        signal: worst,
        value: signals[worst].value,
        limit: signals[worst].limit,
      })
      return
    }
    if (worstRatio >= options.recoverBelow) {
      this.calmSince = undefined
      return
    }
    this.calmSince ??= now
    if (now - this.calmSince < options.recoverAfterMs) return
    const signal = this.trippedBy
    const overloadedMs = now - (this.overloadedAt ?? now)
    this.trippedBy = undefined
    this.overloadedAt = undefined
    this.overSamples = 0
    components.logger?.info('no longer overloaded', { signal, overloadedMs })
    components.taps.publish({
      kind: 'geo.recovered',
      at: now,
      geo: components.geo,
      signal,
      overloadedMs,
    })
  }

  private reportOf(signals: Record<LoadSignal, LoadSample>): LoadReport {
    const load = ratio(signals[worstSignal(signals)])
    return {
      load: Math.round(load * 1000) / 1000,
      overloaded: this.trippedBy !== undefined,
      ...(this.trippedBy ? { trippedBy: this.trippedBy } : {}),
      shedShare: Math.round(this.shedShare * 1000) / 1000,
      signals,
    }
  }

  private emptySignals(): Record<LoadSignal, LoadSample> {
    const { options } = this
    return {
      eventLoopDelay: { value: 0, limit: options.maxEventLoopDelayMs },
      inFlight: { value: 0, limit: options.maxInFlight },
      mailboxBacklog: { value: 0, limit: options.maxMailboxBacklog },
      storeAppend: { value: 0, limit: options.maxStoreAppendMs },
    }
  }

  private schedule(): void {
    this.cancelTimer = this.components.clock.setTimer(this.options.sampleMs, () => {
      if (!this.histogram) return
      this.sample()
      this.schedule()
    })
  }
}

function ratio(sample: LoadSample): number {
  return sample.value / sample.limit
}

function worstSignal(signals: Record<LoadSignal, LoadSample>): LoadSignal {
  let worst: LoadSignal = LOAD_SIGNALS[0]!
  for (const signal of LOAD_SIGNALS)
    if (ratio(signals[signal]) > ratio(signals[worst])) worst = signal
  return worst
}

/** Each signal as `value/limit`, for a log line. */
function valuesOf(signals: Record<LoadSignal, LoadSample>): Record<LoadSignal, string> {
  const values = {} as Record<LoadSignal, string>
  for (const signal of LOAD_SIGNALS)
    values[signal] = `${signals[signal].value}/${signals[signal].limit}`
  return values
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
