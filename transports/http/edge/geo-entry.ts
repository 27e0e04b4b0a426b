import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import type { Logger } from '../../../core/index.js'
import type { GeoView } from './route-choice.js'
import type { EdgeOptions } from './options.js'

/** Largest `/readyz` body read from a geo; past it the probe counts as failed. */
export const MAX_PROBE_BODY_BYTES = 64 * 1024

/** The load below which an overloaded geo recovers (the geo's default `recoverBelow`). */
const RECOVERY_LOAD = 0.7

/** What an edge holds about one geo: how to reach it, how near and how healthy it is. */
export class GeoEntry implements GeoView {
  name: string
  up = false
  overloaded = false
  load = 0
  shedShare = 0
  /** Requests in flight to this geo through the edge. */
  pending = 0
  /** Requests this geo answered through the edge. */
  served = 0
  lastError: string | undefined
  /** Ready probes in a row. */
  private readyProbes = 0
  private everUp = false
  private readonly rttSamples: number[] = []
  private rttMin: number | undefined
  /** Keep-alive connections for the requests the edge forwards. */
  readonly pool: Pool
  /** A connection of its own for probes: a pool busy with slow requests must not look like a dead geo. */
  private readonly probePool: Pool

  constructor(
    readonly url: string,
    name: string | undefined,
    /** The name was configured: `/readyz` does not rename it. */
    private readonly named: boolean,
    private readonly options: EdgeOptions,
    /** Where a geo going down or coming back up is written (a line per change, not per probe). */
    private readonly logger?: Logger,
  ) {
    this.name = name ?? new URL(url).host
    this.pool = new Pool(url, {
      connections: options.connectionsPerGeo,
      keepAliveTimeout: 30_000,
      headersTimeout: options.upstreamTimeoutMs,
      bodyTimeout: options.upstreamTimeoutMs,
    })
    this.probePool = new Pool(url, { connections: 1, keepAliveTimeout: 30_000 })
  }

  get rttMs(): number | undefined {
    return this.rttMin
  }

  /** Probes `/readyz` once and updates health, distance, load and shed share. */
  async probe(): Promise<void> {
    const { options } = this
    const started = performance.now()
    let status: number
    let body: ReadyzBody | undefined
    try {
      const response = await this.probePool.request({
        method: 'GET',
        path: '/readyz',
        headersTimeout: options.probeTimeoutMs,
        bodyTimeout: options.probeTimeoutMs,
        signal: AbortSignal.timeout(options.probeTimeoutMs),
      })
      status = response.statusCode
      body = parseReadyz(await readBounded(response.body, MAX_PROBE_BODY_BYTES))
    } catch (error) {
      this.markDown(`probe failed: ${(error as Error).message}`)
      return
    }
    this.sampleRtt(performance.now() - started)
    if (body?.geo && !this.named) this.name = body.geo
    const overloaded = status === 503 && body?.reason === 'overloaded'
    if (status !== 200 && !overloaded) {
      this.markDown(`readyz answered ${status}${body?.reason ? ` (${body.reason})` : ''}`)
      return
    }
    if (overloaded !== this.overloaded)
      this.logger?.[overloaded ? 'warn' : 'info'](
        overloaded ? 'geo overloaded: shedding part of its requests' : 'geo no longer overloaded',
        { geo: this.name, url: this.url, load: body?.load },
      )
    this.load = body?.load ?? 0
    this.overloaded = overloaded
    this.shedShare = overloaded
      ? Math.min(
          options.maxShedShare,
          this.shedShare + options.shedGain * Math.max(this.load - RECOVERY_LOAD, 0.1),
        )
      : 0
    this.readyProbes++
    // A geo seen for the first time is up at once; one that went down must prove itself.
    if (!this.up && (!this.everUp || this.readyProbes >= options.upAfterProbes)) {
      this.up = true
      this.lastError = undefined
      this.logger?.info(this.everUp ? 'geo up again' : 'geo up', {
        geo: this.name,
        url: this.url,
        rttMs: this.rttMs === undefined ? undefined : Math.round(this.rttMs * 100) / 100,
      })
      this.everUp = true
    }
  }

  /** The geo failed (a probe, or a request it refused or dropped): no new requests until it is ready again. */
  markDown(reason: string): void {
    if (this.up)
      this.logger?.warn('geo down: its requests go to the next nearest ready geo', {
        geo: this.name,
        url: this.url,
        reason,
      })
    this.up = false
    this.readyProbes = 0
    this.overloaded = false
    this.shedShare = 0
    this.lastError = reason
  }

  /** What the edge's status route shows. */
  status(): Record<string, unknown> {
    return {
      name: this.name,
      url: this.url,
      up: this.up,
      rttMs: this.rttMin === undefined ? undefined : Math.round(this.rttMin * 100) / 100,
      overloaded: this.overloaded,
      load: this.load,
      shedShare: Math.round(this.shedShare * 1000) / 1000,
      pending: this.pending,
      served: this.served,
      lastError: this.lastError,
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pool.destroy(), this.probePool.destroy()])
  }

  private sampleRtt(ms: number): void {
    this.rttSamples.push(ms)
    if (this.rttSamples.length > this.options.rttWindow) this.rttSamples.shift()
    this.rttMin = Math.min(...this.rttSamples)
  }
}

/** What the edge reads from a geo's `/readyz`. */
interface ReadyzBody {
  geo?: string
  reason?: string
  load?: number
}

function parseReadyz(text: string): ReadyzBody | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  const load = v.load as Record<string, unknown> | undefined
  return {
    ...(typeof v.geo === 'string' && v.geo.length <= 64 ? { geo: v.geo } : {}),
    ...(typeof v.reason === 'string' ? { reason: v.reason } : {}),
    ...(typeof load?.load === 'number' && Number.isFinite(load.load) && load.load >= 0
      ? { load: load.load }
      : {}),
  }
}

/** Reads a body as text, at most `limit` bytes (throws past it: a geo that answers that much is not well). */
export async function readBounded(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > limit) throw new Error(`a body over ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
