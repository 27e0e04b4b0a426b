import type { Duplex } from 'node:stream'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import {
  NoGeoAvailableError,
  NotRunningError,
  OutcomeUnknownError,
  Taps,
  notRunningMessage,
  type Logger,
  type RouteReason,
  type Startable,
} from '../../../core/index.js'
import { parseInit } from '../../../support/options.js'
import { refuseConnect } from '../gateway.js'
import { streamTapEvents } from '../tap-stream.js'
import { discoverGeos } from './discover.js'
import { dispatchToGeo, type GeoAnswer } from './dispatch.js'
import { GeoEntry } from './geo-entry.js'
import { edgeInitSchema, MAX_EDGE_GEOS, type EdgeInit, type EdgeOptions } from './options.js'
import { chooseGeo, byDistance } from './route-choice.js'
import {
  errorCode,
  forwardedHeaders,
  isLoopback,
  isText,
  NEVER_SENT,
  responseHeaders,
} from './proxy-headers.js'

/** The response header naming the geo that served a request. */
export const GEO_HEADER = 'anywhere-geo'

/** Answers of at most this many bytes (with a Content-Length) are read whole and sent in one write. */
const BUFFERED_RESPONSE_BYTES = 64 * 1024

export interface EdgeComponents {
  logger: Logger
  /** Where `request.routed` is published (the edge makes its own when absent). */
  taps?: Taps
  /** Uniform in [0, 1): decides which requests an overloaded geo sheds. */
  random?: () => number
}

/**
 * The front door: one address for every geo. It probes each geo (`/readyz`, whose round
 * trip is the geo's distance), sends each request to the nearest geo that is up, sheds a
 * share of an overloaded geo's requests to the next nearest one that is not, and retries on
 * the next geo only what is safe to repeat. Responses stream through with an `anywhere-geo`
 * header; tap streams (`/v1/taps`) pass through.
 */
export class Edge implements Startable {
  readonly taps: Taps
  private readonly app: FastifyInstance
  private readonly geos = new Map<string, GeoEntry>()
  private readonly random: () => number
  private address: string | undefined
  private started = false
  private probeTimer: NodeJS.Timeout | undefined
  private discoverTimer: NodeJS.Timeout | undefined
  private routed = 0
  /** Closers of the open `/edge/v1/taps` streams (ended when the edge stops). */
  private readonly tapStreams = new Set<() => void>()
  /** Commands retried on another geo after one failed while it held them (their outcome there unknown). */
  private retriedUnknown = 0

  constructor(
    private readonly options: EdgeOptions,
    private readonly components: EdgeComponents,
  ) {
    this.taps = components.taps ?? new Taps()
    this.random = components.random ?? Math.random
    for (const geo of options.geos) this.addGeo(geo.url, geo.name)
    this.app = Fastify({
      bodyLimit: options.bodyLimitBytes,
      logger: false,
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      requestTimeout: options.requestTimeoutMs,
      http: {
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(1_000, options.requestTimeoutMs),
        requireHostHeader: false,
      },
    })
    this.app.server.on('connect', (_request: unknown, socket: Duplex) => refuseConnect(socket))
    this.register(this.app)
  }

  /** The edge's base URL (after start). */
  get url(): string {
    if (!this.address) throw new NotRunningError(notRunningMessage('the edge'))
    return this.address
  }

  /** What the edge knows of each geo, nearest first. */
  status(): { geos: Record<string, unknown>[]; routedAway: number; retriedUnknown: number } {
    return {
      geos: byDistance([...this.geos.values()]).map((g) => g.status()),
      routedAway: this.routed,
      retriedUnknown: this.retriedUnknown,
    }
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    await this.discover()
    await this.probeAll()
    this.scheduleProbes()
    if (this.options.discover.length > 0) this.scheduleDiscovery()
    this.address = await this.app.listen({ host: this.options.host, port: this.options.port })
    this.components.logger.info('edge listening', {
      url: this.address,
      geos: [...this.geos.values()].map((g) => g.status()),
    })
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    clearTimeout(this.probeTimer)
    clearTimeout(this.discoverTimer)
    for (const close of this.tapStreams) close()
    const backstop = setTimeout(() => this.app.server.closeAllConnections(), 5_000)
    backstop.unref()
    try {
      await this.app.close()
    } finally {
      clearTimeout(backstop)
      await Promise.allSettled([...this.geos.values()].map((g) => g.close()))
    }
  }

  private addGeo(url: string, name?: string): void {
    const key = new URL(url).origin
    if (this.geos.has(key) || this.geos.size >= MAX_EDGE_GEOS) return
    this.geos.set(
      key,
      new GeoEntry(key, name, name !== undefined, this.options, this.components.logger),
    )
  }

  private async probeAll(): Promise<void> {
    await Promise.allSettled([...this.geos.values()].map((g) => g.probe()))
  }

  private scheduleProbes(): void {
    this.probeTimer = setTimeout(() => {
      void this.probeAll().finally(() => {
        if (this.started) this.scheduleProbes()
      })
    }, this.options.probeIntervalMs)
    this.probeTimer.unref()
  }

  private async discover(): Promise<void> {
    for (const url of this.options.discover) this.addGeo(url)
    const found = await discoverGeos(this.options.discover, this.options.probeTimeoutMs)
    for (const url of found) this.addGeo(url)
  }

  private scheduleDiscovery(): void {
    this.discoverTimer = setTimeout(() => {
      void this.discover()
        .catch((error: unknown) => this.components.logger.warn('geo discovery failed', { error }))
        .finally(() => {
          if (this.started) this.scheduleDiscovery()
        })
    }, this.options.discoverEveryMs)
    this.discoverTimer.unref()
  }

  private register(app: FastifyInstance): void {
    // Bodies are forwarded as bytes, never parsed: the geo validates them. They are held
    // (up to bodyLimitBytes) so that a request safe to repeat can be sent to the next geo.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
    app.setErrorHandler((error: FastifyError, _request, reply) =>
      sendError(reply, error, this.options),
    )
    app.addHook('onRequest', (request, reply, done) => {
      if (request.headers.host === undefined) {
        void reply.code(400).send({
          error: 'ValidationError',
          message: 'the request has no Host header (HTTP/1.1 requires one)',
        })
        return
      }
      done()
    })
    // The edge's own routes name every geo's internal URL: this machine only, unless configured.
    const local = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (this.options.statusAccess === 'anyone' || isLoopback(request.socket.remoteAddress))
        return done()
      void reply.code(403).send({
        error: 'ForbiddenError',
        message: "the edge's status and taps answer only clients on its own machine (statusAccess)",
      })
    }
    app.get('/edge/v1/status', { onRequest: local }, async () => this.status())
    app.get('/edge/v1/taps', { onRequest: local }, (request, reply) =>
      this.streamTaps(request, reply),
    )
    const forward = (request: FastifyRequest, reply: FastifyReply) => this.forward(request, reply)
    app.all('/', forward)
    app.all('/*', forward)
  }

  private async forward(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const method = request.method
    const idempotent =
      method === 'GET' ||
      method === 'HEAD' ||
      typeof request.headers['idempotency-key'] === 'string'
    const tapStream = request.url === '/v1/taps' || request.url.startsWith('/v1/taps?')
    const body =
      Buffer.isBuffer(request.body) && request.body.byteLength > 0 ? request.body : undefined
    const headers = forwardedHeaders(request)
    const tried = new Set<GeoEntry>()
    let lastFailure: string | undefined
    for (let attempt = 0; attempt < this.geos.size; attempt++) {
      const choice = chooseGeo([...this.geos.values()], this.random, tried)
      if (!choice) break
      const geo = choice.geo
      tried.add(geo)
      if (geo.pending >= this.options.maxPendingPerGeo) {
        lastFailure = `geo ${geo.name} has ${geo.pending} requests in flight (maxPendingPerGeo)`
        continue
      }
      if (choice.from && choice.reason)
        this.publishRouted(choice.from.name, geo.name, choice.reason)
      geo.pending++
      let released = false
      const release = () => {
        if (released) return
        released = true
        geo.pending--
      }
      let abort: ((reason: Error) => void) | undefined
      let clientLeft = false
      reply.raw.once('close', () => {
        release()
        if (!reply.raw.writableFinished) {
          clientLeft = true
          abort?.(new Error('the client left'))
        }
      })
      let upstream: GeoAnswer
      try {
        upstream = await dispatchToGeo(
          geo.pool,
          {
            method,
            path: request.url,
            headers,
            body: body ?? null,
            ...(tapStream ? { bodyTimeout: 0 } : {}),
          },
          tapStream ? -1 : BUFFERED_RESPONSE_BYTES,
          (abortRequest) => (abort = abortRequest),
        )
      } catch (error) {
        release()
        const code = errorCode(error)
        lastFailure = `geo ${geo.name}: ${(error as Error).message}`
        if (clientLeft) return reply
        geo.markDown(`request failed: ${lastFailure}`)
        if (NEVER_SENT.has(code ?? '')) continue
        if (idempotent) {
          if (method !== 'GET' && method !== 'HEAD') this.retriedUnknown++
          continue
        }
        return reply.code(502).send({
          error: new OutcomeUnknownError('').name,
          message:
            `geo ${geo.name} failed while it handled this request (${(error as Error).message}): ` +
            'it may or may not have been applied. Send commands with an Idempotency-Key to have them retried on another geo.',
          geo: geo.name,
        })
      }
      // A geo that is draining or full did not run the request; a safe one goes to the next geo.
      if (upstream.statusCode === 503 && idempotent && !tapStream && attempt + 1 < this.geos.size) {
        upstream.stream?.destroy()
        release()
        lastFailure = `geo ${geo.name} answered 503`
        continue
      }
      geo.served++
      // A small text answer of known length was read whole: it goes straight to the socket,
      // skipping Fastify's send path (serializer lookup, hooks, header checks), a visible share
      // of the edge's work per request. As a string, Node writes headers and body in one go.
      if (upstream.bytes && isText(upstream.headers['content-type'])) {
        reply.hijack()
        const headers = responseHeaders(upstream.headers)
        headers[GEO_HEADER] = geo.name
        reply.raw.writeHead(upstream.statusCode, headers)
        reply.raw.end(upstream.bytes.toString('utf8'))
        return reply
      }
      // Tap streams and large or unsized bodies stream through.
      reply.code(upstream.statusCode)
      for (const [name, value] of Object.entries(responseHeaders(upstream.headers)))
        reply.header(name, value)
      reply.header(GEO_HEADER, geo.name)
      return reply.send(upstream.bytes ?? upstream.stream)
    }
    return reply
      .code(503)
      .header('retry-after', '1')
      .send({
        error: new NoGeoAvailableError('').name,
        message: `no geo can take this request now${lastFailure ? ` (last: ${lastFailure})` : ''}; retry later`,
      })
  }

  /**
   * The edge's own tap events (`request.routed`) as server-sent events, like a node's
   * `/v1/taps`; past `SSE_MAX_BUFFERED_BYTES` unsent to a slow client, events are dropped.
   */
  private streamTaps(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return streamTapEvents(request, reply, this.taps.events$, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      comment: 'anywhere edge taps',
      open: this.tapStreams,
    })
  }

  private publishRouted(from: string, to: string, reason: RouteReason): void {
    this.routed++
    if (this.taps.wants('request.routed'))
      this.taps.publish({ kind: 'request.routed', at: Date.now(), from, to, reason })
  }
}

/** The edge's own errors, in the gateway's JSON shape (`{ error, message }`). */
function sendError(reply: FastifyReply, error: FastifyError, options: EdgeOptions): FastifyReply {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413)
    return reply.code(413).send({
      error: 'PayloadTooLargeError',
      message: `the request body is over the limit of ${options.bodyLimitBytes} bytes`,
    })
  const status = error.statusCode ?? 500
  return reply.code(status).send({
    error: status < 500 ? 'BadRequest' : 'InternalError',
    message: error.message,
  })
}

/** Creates an edge; the init is parsed once, here. */
export function edge(init: EdgeInit): (components: EdgeComponents) => Edge {
  const options = parseInit(edgeInitSchema, init, 'edge')
  return (components) => new Edge(options, components)
}
