// The receiving end of the channel between the nodes of a geo (see geo-channel.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'
import {
  AnywhereError,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_NAME_LENGTH,
  NotRunningError,
  ValidationError,
  type ActorRuntime,
  type Logger,
  type Startable,
} from '../../core/index.js'
import { GEO_SECRET_HEADER, MAX_GEO_CALL_BYTES } from './geo-channel.js'
import { statusForError } from './routes.js'

/** Most bytes of an oversized call read (and dropped) before its connection is cut. */
const MAX_DRAINED_BYTES = 8 * MAX_GEO_CALL_BYTES
/** Longest chain of nested asks a call may carry. */
const MAX_CHAIN = 64
/** How long `stop()` lets calls under way finish before it cuts their connections. */
const STOP_GRACE_MS = 5_000

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
    idempotencyKey: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH).optional(),
  })
  .strict()
const readSchema = z
  .object({
    type: name,
    id: name,
    timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  })
  .strict()

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
    const runtime = this.components.runtime.forwarded
    try {
      if (!runtime) throw new NotRunningError('this node is not a member of a geo of several nodes')
      switch (request.url) {
        case '/geo/v1/ask': {
          const call = parse(askSchema, json)
          const { value, replayed } = await runtime.askForwarded(
            call.type,
            call.id,
            call.command,
            call.input ?? {},
            call.chain,
            call.timeoutMs ? { timeoutMs: call.timeoutMs } : {},
            call.idempotencyKey,
          )
          return send(response, 200, { value: value ?? null, ...(replayed ? { replayed } : {}) })
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
