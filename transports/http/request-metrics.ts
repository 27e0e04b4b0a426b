// The gateway's Prometheus metrics: requests by route template, actor type, command and
// status, and their latency. Labels are bounded: a route is a registered template (never a
// raw path), an actor type and a command are ones the node declares, anything else is `other`.
import type { FastifyReply, FastifyRequest, onSendHookHandler, RouteOptions } from 'fastify'
import type { Registry } from 'prom-client'
import { Buckets, type ActorRuntime } from '../../core/index.js'
import { histogramSamples, pulledMetric } from '../../support/pulled-metrics.js'

/** Upper bounds (seconds) of the request latency buckets. */
export const REQUEST_LATENCY_BUCKETS = [
  0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10,
] as const

/** The route label of a request no route matched (a 404 for any path). */
const UNMATCHED = 'unmatched'
/** The label of anything but a declared actor type or command. */
const OTHER = 'other'
/** The command label of routes that carry none. */
const NONE = ''

interface RequestSeries {
  readonly labels: Record<string, string>
  count: number
}

interface RouteLatency {
  readonly labels: Record<string, string>
  readonly buckets: Buckets
}

/**
 * Counts each response in plain numbers, keyed by its label values; the registry reads
 * them when scraped. A response costs a key string, two map reads and a bucket search.
 */
export class RequestMetrics {
  private readonly requests = new Map<string, RequestSeries>()
  private readonly latency = new Map<string, RouteLatency>()
  /** `type\0command` of every declared command: what may become a label. */
  private readonly commands: ReadonlySet<string>
  private readonly types: ReadonlySet<string>

  constructor(registry: Registry, runtime: ActorRuntime) {
    this.types = new Set(runtime.actorTypes.map((d) => d.type))
    this.commands = new Set(
      runtime.actorTypes.flatMap((d) => Object.keys(d.commands).map((c) => `${d.type}\0${c}`)),
    )
    pulledMetric(
      registry,
      'anywhere_http_requests_total',
      'HTTP requests answered by the gateway, by method, route template, actor type, command and status code',
      'counter',
      () => [...this.requests.values()].map((s) => ({ labels: s.labels, value: s.count })),
    )
    pulledMetric(
      registry,
      'anywhere_http_request_duration_seconds',
      'Time from request received to response sent, by method and route template',
      'histogram',
      () =>
        [...this.latency.values()].flatMap((r) =>
          histogramSamples('anywhere_http_request_duration_seconds', r.buckets, r.labels),
        ),
    )
  }

  /** Adds to `route` (from an onRoute hook) an onSend hook that counts its responses. */
  countResponses(route: RouteOptions): void {
    const template = route.url
    const count: onSendHookHandler = (request, reply, payload, done) => {
      this.observe(template, request, reply)
      done(null, payload)
    }
    const existing = route.onSend
    route.onSend = existing === undefined ? [count] : [...[existing].flat(), count]
  }

  /** Counts one response of route `template` (undefined: no route matched); its status is final. */
  observe(template: string | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const method = request.method
    const route = template ?? UNMATCHED
    const status = reply.statusCode
    const [type, command] = this.commandOf(request)
    const key = `${method} ${route} ${type} ${command} ${status}`
    let series = this.requests.get(key)
    if (!series) {
      const labels = { method, route, actor_type: type, command, status: String(status) }
      this.requests.set(key, (series = { labels, count: 0 }))
    }
    series.count++
    const routeKey = `${method} ${route}`
    let latency = this.latency.get(routeKey)
    if (!latency) {
      latency = { labels: { method, route }, buckets: new Buckets(REQUEST_LATENCY_BUCKETS) }
      this.latency.set(routeKey, latency)
    }
    latency.buckets.observe(reply.elapsedTime / 1000)
  }

  /** The actor type and command labels: declared ones, else `other` (a client picks the path). */
  private commandOf(request: FastifyRequest): readonly [string, string] {
    const params = request.params as { type?: unknown; command?: unknown } | undefined
    const type = params?.type
    if (typeof type !== 'string') return [NONE, NONE]
    const known = this.types.has(type)
    const command = params?.command
    if (typeof command !== 'string') return [known ? type : OTHER, NONE]
    if (this.commands.has(`${type}\0${command}`)) return [type, command]
    return [known ? type : OTHER, OTHER]
  }
}
