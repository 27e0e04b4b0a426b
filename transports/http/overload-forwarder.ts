// An overloaded node hands a share of the requests that reach it directly to the nearest geo
// that is ready, over the fabric (one hop); when none is, it answers 503 with Retry-After.
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  OutcomeUnknownError,
  OverloadedError,
  type Fabric,
  type ForwardedRequest,
  type ForwardedResponse,
  type Readiness,
  type Taps,
} from '../../core/index.js'

/** Set on a request another geo forwarded here (it is never forwarded again), or that came through an edge (the edge sheds for it). */
export const FORWARDED_HEADER = 'anywhere-forwarded'
/** Set by an edge on every request it sends to a geo. */
export const EDGE_HEADER = 'anywhere-edge'

/** Request headers that travel with a forwarded request. */
const TRAVELLING_HEADERS = ['authorization', 'content-type', 'idempotency-key', 'x-forwarded-for']

export interface OverloadForwarderComponents {
  geo: string
  taps: Taps
  readiness?: Readiness
  fabric?: Fabric
  /** Uniform in [0, 1): which requests are shed. */
  random?: () => number
}

/** Decides, per request, whether an overloaded node keeps it, forwards it, or refuses it. */
export class OverloadForwarder {
  private readonly random: () => number

  constructor(private readonly components: OverloadForwarderComponents) {
    this.random = components.random ?? Math.random
  }

  /** True when this request is to leave this node (cheap: read from the last load sample). */
  sheds(request: FastifyRequest): boolean {
    const share = this.components.readiness?.state().load.shedShare ?? 0
    if (share <= 0) return false
    const { headers } = request
    if (headers[FORWARDED_HEADER] !== undefined || headers[EDGE_HEADER] !== undefined) return false
    return this.random() < share
  }

  /**
   * Sends the request to the nearest geo that advertises itself ready and answers with its
   * reply; with no such geo, 503 `OverloadedError` with `Retry-After`. A forward that fails
   * leaves a safe request (a read, a keyed command) to be served here; another gets 502
   * `OutcomeUnknownError`. Resolves false when the request is to be served here after all.
   */
  async forward(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const { fabric, geo, taps } = this.components
    const target = fabric?.forward ? nearestReadyPeer(fabric) : undefined
    if (!fabric?.forward || !target) {
      void reply
        .code(503)
        .header('retry-after', '1')
        .send({
          error: new OverloadedError('').name,
          message: `geo ${geo} is overloaded and no other geo can take this request now; retry later`,
        })
      return true
    }
    const safe = request.method !== 'POST' || typeof request.headers['idempotency-key'] === 'string'
    let response: ForwardedResponse
    try {
      response = await fabric.forward(target.peerId, toForwarded(request))
    } catch (error) {
      if (safe) return false
      void reply.code(502).send({
        error: new OutcomeUnknownError('').name,
        message:
          `geo ${geo} is overloaded and handed this request to geo ${target.geo}, which failed (${(error as Error).message}): ` +
          'it may or may not have been applied. Send commands with an Idempotency-Key to have them retried safely.',
      })
      return true
    }
    if (taps.wants('request.routed'))
      taps.publish({
        kind: 'request.routed',
        at: Date.now(),
        from: geo,
        to: target.geo,
        reason: 'overloaded',
      })
    reply.code(response.status).headers(response.headers)
    reply.header('x-anywhere-geo', target.geo)
    void reply.send(Buffer.from(response.body))
    return true
  }
}

/** The connected peer geo nearest by fabric round trip that advertises itself ready. */
function nearestReadyPeer(fabric: Fabric): { peerId: string; geo: string } | undefined {
  let best: { peerId: string; geo: string; rttMs: number } | undefined
  for (const peer of fabric.status().peers) {
    if (!peer.connected || peer.advert?.ready !== true) continue
    const rttMs = peer.rttMs ?? Number.MAX_SAFE_INTEGER
    if (!best || rttMs < best.rttMs) best = { peerId: peer.peerId, geo: peer.geo, rttMs }
  }
  return best
}

function toForwarded(request: FastifyRequest): ForwardedRequest {
  const headers: Record<string, string> = {}
  for (const name of TRAVELLING_HEADERS) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const method = request.method === 'HEAD' ? 'HEAD' : request.method === 'POST' ? 'POST' : 'GET'
  return {
    method,
    path: request.url,
    headers,
    ...(method === 'POST' ? { body: Buffer.from(JSON.stringify(request.body ?? {})) } : {}),
  }
}

/** A forwarded request as Fastify's `inject` takes it (marked, so it is never forwarded again). */
export function injectOptionsOf(request: ForwardedRequest): {
  method: ForwardedRequest['method']
  url: string
  headers: Record<string, string>
  payload?: Buffer
} {
  return {
    method: request.method,
    url: request.path,
    headers: { ...request.headers, host: 'forwarded', [FORWARDED_HEADER]: '1' },
    ...(request.body ? { payload: Buffer.from(request.body) } : {}),
  }
}

/** An injected response as the fabric sends it back. */
export function forwardedResponseOf(response: {
  statusCode: number
  headers: Record<string, unknown>
  rawPayload: Buffer
}): ForwardedResponse {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers))
    if (typeof value === 'string' || typeof value === 'number') headers[name] = String(value)
  return { status: response.statusCode, headers, body: response.rawPayload }
}
