// The channel between the nodes of one geo: HTTP/1.1 on kept-alive connections (undici pools,
// one per member), on a listener of its own that is never the public gateway. Each call is
// one ask, tell or read of an actor the receiving node owns; the receiver serves it there or
// refuses it (NotOwnerError), never forwards it again. Why HTTP and not libp2p: these calls
// never leave the geo (one network, no Noise handshake needed), undici keeps connections
// warm, and a refusal maps to the same error classes the gateway already answers with.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Pool, errors as undiciErrors } from 'undici'
import { dispatchToGeo, type GeoAnswer } from './edge/dispatch.js'
import { z } from 'zod'
import {
  AnywhereError,
  AskCycleError,
  AskTimeoutError,
  FencedError,
  HandlerError,
  MAX_NAME_LENGTH,
  MemberUnreachableError,
  NotOwnerError,
  NotRunningError,
  OutcomeUnknownError,
  OverloadedError,
  StoreUnavailableError,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
  type ActorRuntime,
  type ActorView,
  type AskOptions,
  type Logger,
  type RemoteActors,
  type RemoteAsk,
  type Startable,
  type ValidationIssue,
} from '../../core/index.js'
import { statusForError } from './routes.js'

/** Header carrying the geo's secret on every call between its nodes. */
export const GEO_SECRET_HEADER = 'anywhere-geo-secret'
/** Largest body a call between nodes may carry (the gateway's own default limit). */
export const MAX_GEO_CALL_BYTES = 1024 * 1024
/** Most bytes of an oversized call read (and dropped) before its connection is cut. */
const MAX_DRAINED_BYTES = 8 * MAX_GEO_CALL_BYTES
/** Longest chain of nested asks a call may carry. */
const MAX_CHAIN = 64
/** How long `stop()` lets calls under way finish before it cuts their connections. */
const STOP_GRACE_MS = 5_000
/** Connections kept per member. */
const CONNECTIONS_PER_MEMBER = 64

const name = z.string().min(1).max(MAX_NAME_LENGTH)
const askSchema = z
  .object({
    type: name,
    id: name,
    command: name,
    input: z.unknown(),
    chain: z
      .array(z.string().max(2 * MAX_NAME_LENGTH + 1))
      .max(MAX_CHAIN)
      .optional(),
    timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  })
  .strict()
const readSchema = z
  .object({
    type: name,
    id: name,
    timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  })
  .strict()

/** Errors that cross the channel keep their class (so the gateway answers the same status). */
const ERROR_CLASSES = new Map<string, (message: string) => AnywhereError>([
  ['ValidationError', (m) => new ValidationError(m)],
  ['UnknownActorTypeError', (m) => new UnknownActorTypeError(m, { servedTypes: [] })],
  ['UnknownCommandError', (m) => new UnknownCommandError(m)],
  ['HandlerError', (m) => new HandlerError(m)],
  ['AskCycleError', (m) => new AskCycleError(m, { chain: [] })],
  ['AskTimeoutError', (m) => new AskTimeoutError(m)],
  ['NotRunningError', (m) => new NotRunningError(m)],
  ['StoreUnavailableError', (m) => new StoreUnavailableError(m)],
  ['OverloadedError', (m) => new OverloadedError(m)],
  ['NotOwnerError', (m) => new NotOwnerError(m)],
  ['FencedError', (m) => new FencedError(m)],
])

export interface GeoChannelServerInit {
  host: string
  port: number
}

/** The receiving end: serves calls of the geo's other nodes on this node's runtime. */
export class GeoChannelServer implements Startable {
  private server: Server | undefined
  private address: string | undefined

  constructor(
    private readonly init: GeoChannelServerInit,
    private readonly components: {
      runtime: ActorRuntime
      logger: Logger
      /** The geo's secret, read on each call (known once membership has started). */
      secret: () => string
    },
  ) {}

  /** `http://host:port` once listening. */
  get url(): string {
    if (!this.address) throw new NotRunningError('the geo channel is not listening')
    return this.address
  }

  async start(): Promise<void> {
    if (this.server) return
    const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
      this.serve(request, response).catch((error: unknown) => {
        this.components.logger.warn('geo channel: a call failed', { error })
        if (!response.headersSent)
          send(response, 500, { error: 'InternalError', message: String(error) })
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => resolve())
    })
    this.server = server
    const { address, port } = server.address() as AddressInfo
    this.address = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    // Calls under way finish; the other nodes' kept-alive connections are closed once idle.
    const backstop = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS)
    backstop.unref()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    })
    clearTimeout(backstop)
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const presented = request.headers[GEO_SECRET_HEADER]
    if (typeof presented !== 'string' || !sameSecret(presented, this.components.secret()))
      return send(response, 401, {
        error: 'UnauthorizedError',
        message: 'calls between the nodes of a geo carry the geo secret',
      })
    if (request.method !== 'POST')
      return send(response, 405, { error: 'MethodNotAllowed', message: 'POST only' })
    const body = await readBody(request)
    if (body === undefined) {
      response.setHeader('connection', 'close')
      return send(response, 413, {
        error: 'PayloadTooLargeError',
        message: `a call between nodes is limited to ${MAX_GEO_CALL_BYTES} bytes`,
      })
    }
    let json: unknown
    try {
      json = JSON.parse(body)
    } catch {
      return send(response, 400, { error: 'ValidationError', message: 'the body is not JSON' })
    }
    const { runtime } = this.components
    try {
      switch (request.url) {
        case '/geo/v1/ask': {
          const call = parse(askSchema, json)
          const value = await runtime.askForwarded(
            call.type,
            call.id,
            call.command,
            call.input ?? {},
            call.chain,
            call.timeoutMs ? { timeoutMs: call.timeoutMs } : {},
          )
          return send(response, 200, { value: value ?? null })
        }
        case '/geo/v1/tell': {
          const call = parse(askSchema, json)
          runtime.tellForwarded(call.type, call.id, call.command, call.input ?? {})
          return send(response, 200, {})
        }
        case '/geo/v1/read': {
          const call = parse(readSchema, json)
          const view = await runtime.readForwarded(
            call.type,
            call.id,
            call.timeoutMs ? { timeoutMs: call.timeoutMs } : {},
          )
          return send(response, 200, { view })
        }
        default:
          return send(response, 404, { error: 'NotFound', message: `no call ${request.url}` })
      }
    } catch (error) {
      const status = error instanceof AnywhereError ? statusForError(error) : 500
      const e = error instanceof Error ? error : new Error(String(error))
      const issues = error instanceof ValidationError ? { issues: error.issues } : {}
      return send(response, status, { error: e.name, message: e.message, ...issues })
    }
  }
}

function parse<T>(schema: z.ZodType<T>, json: unknown): T {
  const parsed = schema.safeParse(json)
  if (!parsed.success)
    throw new ValidationError(
      `invalid call: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    )
  return parsed.data
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return b.length > 0 && x.length === y.length && timingSafeEqual(x, y)
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

/** The body as text, or undefined past MAX_GEO_CALL_BYTES (the rest is read and dropped, up to a bound). */
function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_DRAINED_BYTES) {
        request.destroy()
        resolve(undefined)
      } else if (size <= MAX_GEO_CALL_BYTES) chunks.push(chunk)
    })
    request.on('end', () =>
      resolve(
        size > MAX_GEO_CALL_BYTES
          ? undefined
          : (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'),
      ),
    )
    request.on('error', reject)
  })
}

/** The sending end: one kept-alive pool per member, found by node id. */
export class GeoChannelClient implements RemoteActors {
  private readonly pools = new Map<string, { url: string; pool: Pool }>()
  /** Calls under way per node: aborted when the node leaves the view (it will not answer). */
  private readonly calls = new Map<string, Set<AbortController>>()

  constructor(
    private readonly components: {
      /** The internal URL of a member, from the current view. */
      urlOf: (nodeId: string) => string | undefined
      secret: () => string
      askTimeoutMs: number
    },
  ) {}

  ask(node: string, request: RemoteAsk, options?: AskOptions): Promise<unknown> {
    const timeoutMs = options?.timeoutMs ?? this.components.askTimeoutMs
    return this.call(node, '/geo/v1/ask', { ...request, timeoutMs }, timeoutMs, false).then(
      (body) => (body as { value: unknown }).value,
    )
  }

  async tell(node: string, request: RemoteAsk): Promise<void> {
    await this.call(node, '/geo/v1/tell', request, this.components.askTimeoutMs, false)
  }

  read(node: string, type: string, id: string, options?: AskOptions): Promise<ActorView> {
    const timeoutMs = options?.timeoutMs ?? this.components.askTimeoutMs
    return this.call(node, '/geo/v1/read', { type, id, timeoutMs }, timeoutMs, true).then(
      (body) => (body as { view: ActorView }).view,
    )
  }

  /** Closes the pools of nodes no longer in the view (and every pool when `keep` is empty). */
  prune(keep: ReadonlySet<string>): void {
    for (const [node, calls] of this.calls)
      if (!keep.has(node))
        for (const call of calls) call.abort(new Error(`node ${node} left the geo`))
    for (const [node, { pool }] of this.pools)
      if (!keep.has(node)) {
        this.pools.delete(node)
        void pool.close().catch(() => {})
      }
  }

  async stop(): Promise<void> {
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.allSettled(pools.map(({ pool }) => pool.destroy()))
  }

  private pool(node: string): Pool {
    const url = this.components.urlOf(node)
    if (!url) throw new MemberUnreachableError(`node ${node} is not a member of the geo now`)
    const held = this.pools.get(node)
    if (held && held.url === url) return held.pool
    if (held) void held.pool.close().catch(() => {})
    const pool = new Pool(url, { connections: CONNECTIONS_PER_MEMBER, pipelining: 1 })
    this.pools.set(node, { url, pool })
    return pool
  }

  private async call(
    node: string,
    path: string,
    body: unknown,
    timeoutMs: number,
    safe: boolean,
  ): Promise<unknown> {
    const pool = this.pool(node)
    const controller = new AbortController()
    let calls = this.calls.get(node)
    if (!calls) this.calls.set(node, (calls = new Set()))
    calls.add(controller)
    let answer: GeoAnswer
    try {
      // undici's dispatcher with a small handler: no stream or promise chain per answer.
      answer = await dispatchToGeo(
        pool,
        {
          method: 'POST',
          path,
          headers: {
            'content-type': 'application/json',
            [GEO_SECRET_HEADER]: this.components.secret(),
          },
          body: JSON.stringify(body),
          // The reply of an ask waits for the actor: the receiver times it out first.
          headersTimeout: timeoutMs + 1_000,
          bodyTimeout: timeoutMs + 1_000,
        },
        MAX_GEO_CALL_BYTES,
        (abort) => {
          if (controller.signal.aborted) abort(controller.signal.reason as Error)
          else
            controller.signal.addEventListener('abort', () =>
              abort(controller.signal.reason as Error),
            )
        },
      )
    } catch (error) {
      throw callError(node, path, error, safe)
    } finally {
      calls.delete(controller)
    }
    if (!answer.bytes) {
      answer.stream?.destroy()
      throw new OutcomeUnknownError(
        `node ${node} answered ${path} with a body over ${MAX_GEO_CALL_BYTES} bytes`,
      )
    }
    let json: { error?: string; message?: string } & Record<string, unknown>
    try {
      json = JSON.parse(answer.bytes.toString('utf8')) as typeof json
    } catch (error) {
      throw new OutcomeUnknownError(`node ${node} answered ${path} with no JSON`, { cause: error })
    }
    const response = answer
    if (response.statusCode === 200) return json
    const rebuild = ERROR_CLASSES.get(json.error ?? '')
    const message = `${json.message ?? `node ${node} answered ${response.statusCode}`}`
    if (json.error === 'ValidationError' && Array.isArray(json.issues))
      throw new ValidationError(message, { issues: json.issues as ValidationIssue[] })
    if (rebuild) throw rebuild(message)
    throw new OutcomeUnknownError(`node ${node} failed ${path}: ${message}`)
  }
}

/** A failed call: surely not sent (retry it), or sent with its outcome unknown. */
function callError(node: string, path: string, error: unknown, safe: boolean): AnywhereError {
  const code = (error as { code?: string }).code
  const message = `node ${node} of the geo could not be reached for ${path}: ${(error as Error).message}`
  if (safe || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'UND_ERR_CONNECT_TIMEOUT')
    return new MemberUnreachableError(message, { cause: error })
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  )
    return new AskTimeoutError(`${message} (no reply in time; it may or may not have run)`, {
      cause: error,
    })
  return new OutcomeUnknownError(`${message}; it may or may not have run`, { cause: error })
}
