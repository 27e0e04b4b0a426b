import type { Duplex } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  NotRunningError,
  notRunningMessage,
  type ForwardedRequest,
  type ForwardedResponse,
  type Startable,
} from '../../core/index.js'
import { forwardedResponseOf, injectOptionsOf } from './overload-forwarder.js'
import { parseInit } from '../../support/options.js'
import {
  gatewayInitSchema,
  MAX_ENCODED_PARAM_LENGTH,
  type GatewayInit,
  type GatewayOptions,
} from './options.js'
import { GatewayRoutes, type GatewayComponents } from './routes.js'

/**
 * The HTTP face of a node: commands and reads of actors, health, fabric status and taps
 * as server-sent events. Errors are JSON `{ error, message, issues? }` with the error
 * class name as `error`.
 */
export class Gateway implements Startable {
  private readonly app: FastifyInstance
  private readonly routes: GatewayRoutes
  private address: string | undefined
  private started = false

  constructor(
    private readonly init: GatewayOptions,
    private readonly components: GatewayComponents,
  ) {
    this.app = Fastify({
      bodyLimit: init.bodyLimitBytes,
      logger: false,
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      routerOptions: { maxParamLength: MAX_ENCODED_PARAM_LENGTH },
      // The router's own refusals (a path segment too long, a malformed URL) as our JSON.
      frameworkErrors: (error, _request, reply) => {
        void this.routes.answerError(reply, error)
      },
      // A client has this long to send its whole request; Node checks it every second here
      // (its default is every 30 s), so a slowly dripped body is cut off close to the limit.
      requestTimeout: init.requestTimeoutMs,
      http: {
        requestTimeout: init.requestTimeoutMs,
        // Node enforces the request timeout only when the headers timeout is not longer.
        headersTimeout: init.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(1_000, init.requestTimeoutMs),
        // Node's own refusal of a request without Host has no body: answered as JSON below.
        requireHostHeader: false,
      },
    })
    // Node closes a CONNECT request's socket without a word when nothing listens for it.
    this.app.server.on('connect', (_request: unknown, socket: Duplex) => refuseConnect(socket))
    this.routes = new GatewayRoutes(init, components, () => !this.started)
    this.routes.register(this.app)
  }

  /** The base URL the gateway listens on (after start). */
  get url(): string {
    if (!this.address) throw new NotRunningError(notRunningMessage('the gateway'))
    return this.address
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    const address = await this.app.listen({ host: this.init.host, port: this.init.port })
    this.address = address
    this.components.logger.info('gateway listening', { url: this.address })
  }

  /** True once the gateway listens (its `url` is known) and until it stops. */
  get listening(): boolean {
    return this.started && this.address !== undefined
  }

  /** Serves a request another geo forwarded over the fabric, as if it had arrived here (never forwarded again). */
  async serveForwarded(request: ForwardedRequest): Promise<ForwardedResponse> {
    return forwardedResponseOf(await this.app.inject(injectOptionsOf(request)))
  }

  /** HTTP requests being served now (probes and tap streams not counted). */
  get inFlight(): number {
    return this.routes.inFlight
  }

  /** Stops accepting requests and waits (up to `stopTimeoutMs`) for in-flight ones to finish. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.routes.closeStreams()
    // Responses sent from now on close their connection, so keep-alive clients do not hold the close open.
    const backstop = setTimeout(
      () => this.app.server.closeAllConnections(),
      this.init.stopTimeoutMs,
    )
    backstop.unref()
    try {
      await this.app.close()
    } finally {
      clearTimeout(backstop)
    }
  }
}

/** Answers a CONNECT (the gateway is no proxy) with a JSON 405, then closes the socket. */
export function refuseConnect(socket: Duplex): void {
  const body = JSON.stringify({
    error: 'MethodNotAllowed',
    message: 'CONNECT is not supported: the gateway is an HTTP API, not a proxy',
  })
  socket.on('error', () => socket.destroy())
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

/** Creates a node's HTTP gateway; the init is parsed once, here. */
export function gateway(init: GatewayInit = {}): (components: GatewayComponents) => Gateway {
  const options = parseInit(gatewayInitSchema, init, 'gateway')
  return (components) => new Gateway(options, components)
}
