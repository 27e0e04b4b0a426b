/** Summary statistics and markdown formatting shared by the benchmark scripts. */

/** The median, minimum and maximum of a set of runs. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

/** Median, min and max of `values` (at least one). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of no values')
  const sorted = [...values].sort((a, b) => a - b)
  return { median: quantile(sorted, 0.5), min: sorted[0]!, max: sorted.at(-1)! }
}

/** The `q` quantile (0..1) of ascending `sorted` values, by linear interpolation. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const at = (sorted.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

/** The p99 of unsorted latency samples. */
export function p99(samples: Float64Array): number {
  return quantile(Float64Array.from(samples).sort(), 0.99)
}

/** `12.3k/s`, `1.23M/s`: a rate with three significant digits. */
export function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toPrecision(3)}M/s`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toPrecision(3)}k/s`
  return `${perSecond.toPrecision(3)}/s`
}

/** A latency in ms, or µs below 1 ms. */
export function duration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toPrecision(3)} µs`
  return `${ms.toPrecision(3)} ms`
}

/** A ratio as a percentage. */
export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`
}

/** `median (min–max)` with a formatter. */
export function spreadText(s: Spread, format: (value: number) => string): string {
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`
}

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** Runs the collector if the process was started with `--expose-gc`, so one run's garbage is not billed to the next. */
export function collectGarbage(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}
