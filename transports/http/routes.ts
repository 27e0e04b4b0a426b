// The gateway's routes: commands, reads, health, catalog, fabric status and taps, with their
// parsers, hooks and one error table. Registered by the Gateway on its own Fastify server, or
// mounted into an existing Fastify app with `anywhereRoutes`.
import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify'
import type { Registry } from 'prom-client'
import {
  MAX_NAME_LENGTH,
  ThrottledWarning,
  ValidationError,
  geoOfOrigin,
  tapConcernsActor,
  type ActorRuntime,
  type Fabric,
  type Logger,
  type Readiness,
  type TapEvent,
  type Taps,
} from '../../core/index.js'
import { authHook, principalOf } from './auth.js'
import { sendError } from './error-replies.js'
import { parseInit } from '../../support/options.js'
import { parseJsonBody } from '../../support/json-text.js'
import { RequestMetrics } from './request-metrics.js'
import { streamTapEvents } from './tap-stream.js'
import { Dashboard } from './dashboard.js'
import { OverloadForwarder } from './overload-forwarder.js'
import { actorCatalog, openApiDocument } from './openapi.js'
import {
  gatewayInitSchema,
  IDEMPOTENCY_KEY_MAX_LENGTH,
  type GatewayInit,
  type GatewayOptions,
} from './options.js'

export interface GatewayComponents {
  runtime: ActorRuntime
  taps: Taps
  logger: Logger
  geo: string
  nodeId: string
  /** Present when the node runs a fabric: serves `GET /v1/fabric`. */
  fabric?: Fabric
  /**
   * Present when the node keeps metrics: the gateway adds its request metrics to it and
   * serves the whole registry at `GET /metrics` (admin scope when auth is configured).
   */
  metrics?: Registry
  /** What `GET /readyz` answers; without it the gateway is ready whenever it is not stopping. */
  readiness?: Readiness
  /** Uniform in [0, 1): which requests an overloaded node hands to another geo. */
  random?: () => number
  /** What `GET /v1/geo` answers: the nodes of this geo (and an actor's owner when asked). */
  geoView?: (actor: { type: string; id: string } | undefined) => unknown
}

/** Routes whose requests are not counted in flight: probes and long-lived tap streams. */
const UNCOUNTED_PATHS = new Set(['/readyz', '/healthz', '/v1/taps'])

const actorParams = {
  type: 'object',
  properties: {
    type: { type: 'string', maxLength: MAX_NAME_LENGTH },
    id: { type: 'string', maxLength: MAX_NAME_LENGTH },
    command: { type: 'string', maxLength: MAX_NAME_LENGTH },
  },
} as const

/** The routes of one gateway and the state they share (open tap streams, requests in flight). */
export class GatewayRoutes {
  private readonly streams = new Set<() => void>()
  private readonly dashboard: Dashboard
  private requestsInFlight = 0
  private readonly forwarder: OverloadForwarder
  private readonly handlerFailures: ThrottledWarning

  constructor(
    private readonly options: GatewayOptions,
    private readonly components: GatewayComponents,
    /** True once the server is stopping: responses then close their connection. */
    private readonly stopping: () => boolean = () => false,
  ) {
    this.dashboard = new Dashboard(components)
    this.forwarder = new OverloadForwarder(components)
    this.handlerFailures = new ThrottledWarning(
      components.logger,
      'a command handler failed (HTTP 500)',
    )
  }

  /** HTTP requests being served now (probes and tap streams not counted): a load signal. */
  get inFlight(): number {
    return this.requestsInFlight
  }

  /**
   * Answers `error` as the gateway's JSON error: for the error handler, and for the errors
   * Fastify's router raises before any route runs (a path segment too long, a bad URL).
   */
  answerError(reply: FastifyReply, error: FastifyError | Error): FastifyReply {
    return sendError(
      reply,
      error,
      this.options.bodyLimitBytes,
      this.components.logger,
      this.handlerFailures,
    )
  }

  /** Ends every open tap and dashboard stream (the server is stopping). */
  closeStreams(): void {
    for (const close of this.streams) close()
    this.dashboard.close()
    this.handlerFailures.close()
  }

  /** Registers every route, parser, hook and error handler on `app` (a Fastify instance or plugin scope). */
  register(app: FastifyInstance): void {
    const { runtime, geo, nodeId } = this.components

    // Every body is JSON whatever its content type (so `curl -d '{...}'` works); an empty body is `{}`.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      try {
        const text = typeof body === 'string' ? body : body.toString('utf8')
        done(null, parseJsonBody(text, this.options.maxJsonDepth))
      } catch (error) {
        done(error as Error, undefined)
      }
    })

    app.setErrorHandler((error: FastifyError | Error, _request, reply) =>
      this.answerError(reply, error),
    )
    const requestMetrics = this.components.metrics
      ? new RequestMetrics(this.components.metrics, runtime)
      : undefined
    // Each route counts its own responses, its template known when it is registered:
    // `request.routeOptions` builds a new object on every read (5% of a request's CPU).
    if (requestMetrics) app.addHook('onRoute', (route) => requestMetrics.countResponses(route))
    app.setNotFoundHandler((request, reply) => {
      reply.code(404)
      requestMetrics?.observe(undefined, request, reply)
      return reply.send({
        error: 'NotFound',
        message: `no route ${request.method} ${request.url}; see GET /v1/actors`,
      })
    })

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
    // The scope each route needs is in auth.ts (ROUTE_ACCESS); without auth no hook runs at all.
    if (this.options.auth)
      app.addHook('onRequest', authHook(this.options.auth, this.components.logger))

    // Callback style, not async: an async hook costs a promise and a hook-runner turn per response.
    app.addHook('onSend', (_request, reply, payload, done) => {
      // A forwarded answer already names the geo that served it.
      if (!reply.hasHeader('x-anywhere-geo')) reply.header('x-anywhere-geo', geo)
      if (this.stopping()) reply.header('connection', 'close')
      done(null, payload)
    })

    const { metrics } = this.components
    if (metrics)
      app.get('/metrics', async (_request, reply) =>
        reply.type(metrics.contentType).send(await metrics.metrics()),
      )

    // Counted from arrival to the response's close (finished or aborted), whatever happens between.
    app.addHook('onRequest', (request, reply, done) => {
      if (!UNCOUNTED_PATHS.has(request.routeOptions.url ?? '')) {
        this.requestsInFlight++
        reply.raw.once('close', () => this.requestsInFlight--)
      }
      done()
    })

    app.get('/readyz', (_request, reply) => {
      const state = this.components.readiness?.state()
      const reason = this.stopping() ? 'draining' : state?.reason
      const body = { status: reason ? 'unready' : 'ready', geo, nodeId, reason, load: state?.load }
      return reply.code(reason ? 503 : 200).send(body)
    })

    app.get('/healthz', async () => ({
      status: 'ok',
      geo,
      nodeId,
      actorsInMemory: runtime.actorsInMemory,
    }))

    // Built once: actor types do not change while the node runs.
    const catalog = JSON.stringify({ actors: actorCatalog(runtime.actorTypes) })
    const openApi = JSON.stringify(openApiDocument(runtime.actorTypes))
    app.get('/v1/actors', (_request, reply) => reply.type('application/json').send(catalog))
    app.get('/v1/openapi.json', (_request, reply) => reply.type('application/json').send(openApi))

    app.post<{ Params: { type: string; id: string; command: string }; Body: unknown }>(
      '/v1/actors/:type/:id/:command',
      {
        schema: { params: actorParams },
        bodyLimit: this.options.bodyLimitBytes,
        preHandler: (request, reply, done) => this.shedOverload(request, reply, done),
      },
      async (request, reply) => {
        const { type, id, command } = request.params
        const key = request.headers['idempotency-key']
        const input = request.body ?? {}
        if (typeof key !== 'string') return reply.send(await runtime.ask(type, id, command, input))
        if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH)
          throw new ValidationError(
            `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`,
          )
        // Recorded with the actor's events, so any geo and any restart replays the first
        // reply. Scoped to the caller: another principal's key never replays this one's.
        const principal = principalOf(request)
        const { reply: value, replayed } = await runtime.askKeyed(type, id, command, input, {
          idempotencyKey: principal === undefined ? key : `${principal}\u0000${key}`,
        })
        if (replayed) reply.header('idempotent-replayed', 'true')
        return reply.send(value)
      },
    )

    app.get<{ Params: { type: string; id: string } }>(
      '/v1/actors/:type/:id',
      {
        schema: { params: actorParams },
        preHandler: (request, reply, done) => this.shedOverload(request, reply, done),
      },
      async (request, reply) => {
        const { type, id } = request.params
        const view = await runtime.read(type, id)
        const definition = runtime.actorTypes.find((d) => d.type === type)
        reply.header('x-anywhere-event-count', String(view.eventCount))
        if (view.last) reply.header('x-anywhere-last-event', `${view.last.origin}:${view.last.seq}`)
        return reply.send(definition?.view ? definition.view(view.state) : view.state)
      },
    )

    app.get<{ Params: { type: string; id: string }; Querystring: { limit?: string } }>(
      '/v1/actors/:type/:id/history',
      { schema: { params: actorParams } },
      async (request, reply) => {
        const { type, id } = request.params
        const limit = historyLimit(request.query.limit)
        const events = await runtime.history(type, id)
        const shown = events.length > limit ? events.slice(events.length - limit) : events
        return reply.send({
          type,
          id,
          total: events.length,
          events: shown.map((e) => ({
            origin: e.origin,
            geo: geoOfOrigin(e.origin) ?? null,
            seq: e.seq,
            hlc: e.hlc,
            type: e.type,
            payload: e.payload,
          })),
        })
      },
    )

    this.dashboard.register(app)

    app.get<{ Querystring: { actor?: string } }>('/v1/geo', (request, reply) => {
      const { actor } = request.query
      const [type, id, ...rest] = typeof actor === 'string' ? actor.split('/') : []
      if (actor !== undefined && (!type || !id || rest.length > 0))
        throw new ValidationError('actor must be <type>/<id>')
      const view = this.components.geoView?.(type && id ? { type, id } : undefined) ?? {
        geo,
        nodeId,
        members: [],
      }
      return reply.send(view)
    })

    app.get('/v1/fabric', async (_request, reply) => {
      const { fabric } = this.components
      if (!fabric)
        return reply.code(404).send({
          error: 'NotFound',
          message: 'this node runs no fabric: start it with --fabric-listen and --peer',
        })
      return reply.send(fabric.status())
    })

    app.get<{ Querystring: { kind?: string; actor?: string } }>('/v1/taps', (request, reply) => {
      const kinds = request.query.kind ? new Set(request.query.kind.split(',')) : undefined
      const [actorType, actorId] = request.query.actor?.split('/') ?? []
      const wanted = (e: TapEvent) =>
        (!kinds || kinds.has(e.kind)) &&
        (!actorType || !actorId || tapConcernsActor(e, actorType, actorId))
      const headers = {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-anywhere-geo': geo,
      }
      if (request.method === 'HEAD') return reply.code(200).headers(headers).send()
      return streamTapEvents(request, reply, this.components.taps.events$, {
        headers,
        comment: 'anywhere taps',
        wanted,
        open: this.streams,
      })
    })
  }

  /** An overloaded node hands a share of what reaches it directly to another geo (see OverloadForwarder). */
  private shedOverload(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (!this.forwarder.sheds(request)) return done()
    this.forwarder.forward(request, reply).then(
      (answered) => {
        if (!answered) done()
      },
      () => done(),
    )
  }
}

/** Events `GET /v1/actors/:type/:id/history` returns unless `?limit=` says otherwise (the latest ones). */
export const DEFAULT_HISTORY_LIMIT = 200
/** Most events one history response carries. */
export const MAX_HISTORY_LIMIT = 1_000

function historyLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_HISTORY_LIMIT
  const limit = /^[0-9]{1,4}$/.test(value) ? Number(value) : NaN
  if (!(limit >= 1 && limit <= MAX_HISTORY_LIMIT))
    throw new ValidationError(`limit must be a whole number from 1 to ${MAX_HISTORY_LIMIT}`)
  return limit
}

/**
 * The gateway's routes as a Fastify plugin, for an app that has its own server:
 * `await app.register(anywhereRoutes(config.http, { runtime: node.runtime, ... }), { prefix: '/anywhere' })`.
 * Server-level settings (request timeout, path parameter length) are the app's own.
 */
export function anywhereRoutes(
  init: GatewayInit,
  components: GatewayComponents,
): FastifyPluginAsync {
  const options = parseInit(gatewayInitSchema, init, 'gateway')
  return async (app) => {
    const routes = new GatewayRoutes(options, components)
    app.addHook('onClose', async () => routes.closeStreams())
    routes.register(app)
  }
}
