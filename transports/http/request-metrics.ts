// The gateway's Prometheus metrics: requests by route template, command and status, and
// their latency. Labels are bounded: a route is a registered template (never a raw path),
// a command is one an actor type declares, anything else is `other`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { ActorRuntime } from '../../core/index.js'

/** Upper bounds (seconds) of the request latency buckets. */
export const REQUEST_LATENCY_BUCKETS = [
  0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10,
]

/** The route label of a request no route matched (a 404 for any path). */
const UNMATCHED = 'unmatched'
/** The command label of anything but a declared command of a registered actor type. */
const OTHER = 'other'
/** The command label of routes that carry no command. */
const NONE = ''
const NO_COMMAND = [NONE, NONE] as const
const OTHER_TYPE = [OTHER, NONE] as const
const OTHER_COMMAND = [OTHER, OTHER] as const

type CounterChild = ReturnType<Counter<string>['labels']>
type HistogramChild = ReturnType<Histogram<string>['labels']>

/**
 * Counts each response (onResponse hook). Each label combination's child metric is looked up
 * once and cached, so a request costs a string key and two map reads, not prom-client's
 * label hashing.
 */
export class RequestMetrics {
  private readonly requests: Counter<string>
  private readonly latency: Histogram<string>
  private readonly counters = new Map<string, CounterChild>()
  private readonly histograms = new Map<string, HistogramChild>()
  /** `type\0command` of every declared command: what may become a label. */
  private readonly commands: ReadonlySet<string>
  private readonly types: ReadonlySet<string>

  constructor(registry: Registry, runtime: ActorRuntime) {
    // Routes mounted twice on one registry share its metrics.
    this.requests =
      (registry.getSingleMetric('anywhere_http_requests_total') as Counter<string> | undefined) ??
      new Counter({
        name: 'anywhere_http_requests_total',
        help: 'HTTP requests answered by the gateway, by method, route template, actor type, command and status code',
        labelNames: ['method', 'route', 'actor_type', 'command', 'status'],
        registers: [registry],
      })
    this.latency =
      (registry.getSingleMetric('anywhere_http_request_duration_seconds') as
        Histogram<string> | undefined) ??
      new Histogram({
        name: 'anywhere_http_request_duration_seconds',
        help: 'Time from request received to response sent, by method and route template',
        labelNames: ['method', 'route'],
        buckets: REQUEST_LATENCY_BUCKETS,
        registers: [registry],
      })
    this.types = new Set(runtime.actorTypes.map((d) => d.type))
    this.commands = new Set(
      runtime.actorTypes.flatMap((d) => Object.keys(d.commands).map((c) => `${d.type}\0${c}`)),
    )
  }

  /** Adds the hook that counts every response of `app`. */
  register(app: FastifyInstance): void {
    // Callback style: an async hook costs a promise and a hook-runner turn per response.
    app.addHook('onResponse', (request, reply, done) => {
      this.observe(request, reply)
      done()
    })
  }

  private observe(request: FastifyRequest, reply: FastifyReply): void {
    const method = request.method
    const route = request.routeOptions.url ?? UNMATCHED
    const status = reply.statusCode
    const [type, command] = this.commandOf(request)
    const key = `${method} ${route} ${type} ${command} ${status}`
    let counter = this.counters.get(key)
    if (!counter) {
      counter = this.requests.labels(method, route, type, command, String(status))
      this.counters.set(key, counter)
    }
    counter.inc()
    const routeKey = `${method} ${route}`
    let histogram = this.histograms.get(routeKey)
    if (!histogram) {
      histogram = this.latency.labels(method, route)
      this.histograms.set(routeKey, histogram)
    }
    histogram.observe(reply.elapsedTime / 1000)
  }

  /** The actor type and command labels: declared ones, else `other` (a client picks the path). */
  private commandOf(request: FastifyRequest): readonly [string, string] {
    const params = request.params as { type?: unknown; command?: unknown } | undefined
    const type = params?.type
    if (typeof type !== 'string') return NO_COMMAND
    const command = params?.command
    if (typeof command !== 'string') return this.types.has(type) ? [type, NONE] : OTHER_TYPE
    if (this.commands.has(`${type}\0${command}`)) return [type, command]
    return this.types.has(type) ? [type, OTHER] : OTHER_COMMAND
  }
}
