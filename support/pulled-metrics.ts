// Prometheus metrics read at scrape time from plain counters: the hot path bumps a number in
// place, and no label set is hashed until someone scrapes.
import type { Registry } from 'prom-client'

export type MetricLabels = Record<string, string>

/** Observations counted per bucket (core's `Buckets` has this shape). */
export interface BucketCounts {
  readonly bounds: readonly number[]
  /** Per bucket of `bounds`, plus one past the last (+Inf); not cumulative. */
  readonly counts: readonly number[]
  readonly count: number
  readonly sum: number
}

/** One line of a metric: its value, its labels, and a suffixed name for histogram parts. */
export interface MetricSample {
  readonly metricName?: string
  readonly labels?: MetricLabels
  readonly value: number
}

/**
 * Registers a metric whose samples are read when scraped. prom-client formats any registered
 * object with a name, help, type and `get()`; this one keeps no state of its own. A name
 * already registered (routes mounted twice on one registry) keeps its first reader.
 */
export function pulledMetric(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  samples: () => readonly MetricSample[],
): void {
  if (registry.getSingleMetric(name)) return
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: samples() }),
    reset: () => undefined,
  }
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
}

/** The `_bucket` (cumulative), `_sum` and `_count` lines of a histogram. */
export function histogramSamples(
  name: string,
  buckets: BucketCounts,
  labels: MetricLabels = {},
): MetricSample[] {
  const samples: MetricSample[] = []
  let cumulative = 0
  buckets.bounds.forEach((bound, i) => {
    cumulative += buckets.counts[i]!
    samples.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: String(bound) },
      value: cumulative,
    })
  })
  samples.push({
    metricName: `${name}_bucket`,
    labels: { ...labels, le: '+Inf' },
    value: buckets.count,
  })
  samples.push({ metricName: `${name}_sum`, labels, value: buckets.sum })
  samples.push({ metricName: `${name}_count`, labels, value: buckets.count })
  return samples
}
