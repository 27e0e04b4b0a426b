// Steady load through an edge for routing tests: N workers, one request at a time each.

/** One request as a worker sends it. */
export interface LoadRequest {
  path: string
  method?: 'GET' | 'POST'
  body?: string
  headers?: Record<string, string>
}

/** What happened to one request. */
export interface Sample {
  readonly worker: number
  readonly n: number
  readonly start: number
  readonly end: number
  readonly status: number
  /** The `anywhere-geo` header (undefined on a network error). */
  readonly geo: string | undefined
  readonly error?: string
}

export interface Load {
  /** Everything so far. */
  readonly samples: readonly Sample[]
  /** Stops the workers and resolves once each has finished its request. */
  stop(): Promise<Sample[]>
}

/** Most requests one worker sends (a bound, not a target). */
const MAX_PER_WORKER = 200_000

/** Starts `workers` loops sending `next(worker, n)` to `base` until `stop()`. */
export function startLoad(
  base: string,
  workers: number,
  next: (worker: number, n: number) => LoadRequest,
): Load {
  const samples: Sample[] = []
  let stopped = false
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let n = 0; !stopped && n < MAX_PER_WORKER; n++) {
      const request = next(worker, n)
      const start = Date.now()
      try {
        const response = await fetch(`${base}${request.path}`, {
          method: request.method ?? 'GET',
          ...(request.body !== undefined ? { body: request.body } : {}),
          headers: request.headers ?? {},
          signal: AbortSignal.timeout(15_000),
        })
        await response.arrayBuffer()
        samples.push({
          worker,
          n,
          start,
          end: Date.now(),
          status: response.status,
          geo: response.headers.get('anywhere-geo') ?? undefined,
        })
      } catch (error) {
        samples.push({
          worker,
          n,
          start,
          end: Date.now(),
          status: 0,
          geo: undefined,
          error: String(error),
        })
      }
    }
  })
  return {
    samples,
    async stop() {
      stopped = true
      await Promise.all(loops)
      return samples
    },
  }
}

/** How many samples each geo served. */
export function servedBy(samples: readonly Sample[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const s of samples) {
    const key = s.geo ?? `failed:${s.status}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

/** The `p`-th percentile (0..100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
