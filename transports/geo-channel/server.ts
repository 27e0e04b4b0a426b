// The receiving end of the channel between the nodes of a geo (see frames.ts).
import { timingSafeEqual } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { z } from 'zod'
import {
  AnywhereError,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_PAYLOAD_DEPTH,
  NotRunningError,
  OverloadedError,
  UnauthorizedError,
  ValidationError,
  type ActorRuntime,
  type Logger,
  type Startable,
} from '../../core/index.js'
import {
  FrameBatcher,
  FrameKind,
  FrameReader,
  FRAME_OVERHEAD_BYTES,
  MAX_GEO_CALL_BYTES,
  MAX_HELLO_BYTES,
  encodeFrame,
  type Frame,
} from './frames.js'
import { parseJsonBody } from '../../support/json-text.js'

/** Longest chain of nested asks a call may carry. */
const MAX_CHAIN = 64
/** Calls one connection may have under way at once; past it a call is refused (OverloadedError). */
const MAX_CALLS_PER_CONNECTION = 10_000
/** How long `stop()` lets calls under way finish before it cuts their connections. */
const STOP_GRACE_MS = 5_000
/** How long a new connection has to present the geo's secret. */
const HELLO_TIMEOUT_MS = 10_000
/** How long a refused connection is kept once its refusal is written, for its peer to read it. */
const REFUSED_LINGER_MS = 1_000

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
const helloSchema = z.object({ secret: z.string().max(1_024) }).strict()

export interface GeoChannelServerInit {
  host: string
  port: number
}

/** The receiving end: serves calls of the geo's other nodes on this node's runtime. */
export class GeoChannelServer implements Startable {
  private server: Server | undefined
  private address: string | undefined
  private readonly sockets = new Set<Socket>()
  /** Calls under way, over every connection (stop waits for them). */
  private underWay = 0
  private idle: (() => void) | undefined

  constructor(
    private readonly init: GeoChannelServerInit,
    private readonly components: {
      runtime: ActorRuntime
      logger: Logger
      /** The geo's secret, read on each connection (known once membership has started). */
      secret: () => string
    },
  ) {}

  /** `tcp://host:port` once listening. */
  get url(): string {
    if (!this.address) throw new NotRunningError('the geo channel is not listening')
    return this.address
  }

  async start(): Promise<void> {
    if (this.server) return
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => resolve())
    })
    this.server = server
    const { address, port } = server.address() as AddressInfo
    this.address = `tcp://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    // Calls under way finish (up to a grace period); then every connection is closed.
    if (this.underWay > 0)
      await new Promise<void>((resolve) => {
        const backstop = setTimeout(resolve, STOP_GRACE_MS)
        backstop.unref()
        this.idle = () => {
          clearTimeout(backstop)
          resolve()
        }
      })
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  private accept(socket: Socket): void {
    if (!this.server) return void socket.destroy()
    this.sockets.add(socket)
    const { logger } = this.components
    const reader = new FrameReader(MAX_HELLO_BYTES)
    const out = new FrameBatcher((bytes) => {
      if (!socket.destroyed) socket.write(bytes)
    })
    let authenticated = false
    let calls = 0
    const hello = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS)
    hello.unref()
    const answer = (id: number, kind: FrameKind, body: unknown) => {
      let frame: Buffer | undefined
      let problem: string
      try {
        frame = encodeFrame(id, kind, body)
        problem = `an answer of ${frame.length - FRAME_OVERHEAD_BYTES} bytes (at most ${MAX_GEO_CALL_BYTES})`
      } catch (error) {
        problem = `an answer that cannot be encoded (${(error as Error).message})`
      }
      if (frame && frame.length - FRAME_OVERHEAD_BYTES <= MAX_GEO_CALL_BYTES) return out.push(frame)
      // Its caller alone is told, not the connection cut (every call on it would fail). The
      // call ran, its events (if any) stored: the caller cannot tell what came of it.
      logger.warn('geo channel: a call ran but its answer cannot be sent', { problem })
      out.push(
        encodeFrame(id, FrameKind.ERROR, {
          error: 'OutcomeUnknownError',
          message: `the call ran on the owner, but its answer cannot be sent: ${problem}`,
        }),
      )
    }
    const refuse = (error: AnywhereError | Error, id = 0) => {
      const issues = error instanceof ValidationError ? { issues: error.issues } : {}
      answer(id, FrameKind.ERROR, { error: error.name, message: error.message, ...issues })
    }
    let refused = false
    const onFrame = (frame: Frame) => {
      if (refused) return // frames that came with a refused hello: closing, none is served
      if (!authenticated) {
        clearTimeout(hello)
        if (frame.kind === FrameKind.HELLO && this.helloHolds(frame.body)) {
          authenticated = true
          reader.maxBody = MAX_GEO_CALL_BYTES
          return
        }
        refused = true
        refuse(new UnauthorizedError('calls between the nodes of a geo carry the geo secret'))
        out.flush()
        // Closed a moment after the refusal is written (for the peer to read it and close its
        // side), or once the hello's time is up (a peer that does not read): a peer that keeps
        // its side open would otherwise hold the connection, and have what it sends read, for ever.
        const cut = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS)
        cut.unref()
        socket.once('close', () => clearTimeout(cut))
        return void socket.end(() => {
          clearTimeout(cut)
          setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref()
        })
      }
      if (calls >= MAX_CALLS_PER_CONNECTION)
        return refuse(
          new OverloadedError(`over ${MAX_CALLS_PER_CONNECTION} calls under way on one connection`),
          frame.id,
        )
      calls++
      this.underWay++
      this.serve(frame)
        .then(
          (body) => answer(frame.id, FrameKind.OK, body),
          (error: unknown) => {
            if (!(error instanceof AnywhereError))
              logger.warn('geo channel: a call failed', { error })
            refuse(error instanceof Error ? error : new Error(String(error)), frame.id)
          },
        )
        .finally(() => {
          calls--
          if (--this.underWay === 0) this.idle?.()
        })
    }
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame)
      } catch (error) {
        // An oversized frame: its call cannot be answered without reading it all; cut it off.
        logger.warn('geo channel: a connection sent a frame over the limit; closing it', {
          error: (error as Error).message,
        })
        socket.destroy()
      }
    })
    socket.on('error', (error) => logger.debug('geo channel: connection error', { error }))
    socket.on('close', () => {
      clearTimeout(hello)
      this.sockets.delete(socket)
    })
  }

  private helloHolds(body: Buffer): boolean {
    const parsed = helloSchema.safeParse(parseJson(body))
    return parsed.success && sameSecret(parsed.data.secret, this.components.secret())
  }

  private async serve(frame: Frame): Promise<unknown> {
    const json = parseCall(frame.body)
    const runtime = this.components.runtime.forwarded
    if (!runtime) throw new NotRunningError('this node is not a member of a geo of several nodes')
    switch (frame.kind) {
      case FrameKind.ASK: {
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
        return replayed ? { value: value ?? null, replayed } : { value: value ?? null }
      }
      case FrameKind.TELL: {
        const call = parse(askSchema, json)
        runtime.tellForwarded(call.type, call.id, call.command, call.input ?? {})
        return {}
      }
      case FrameKind.READ: {
        const call = parse(readSchema, json)
        const view = await runtime.readForwarded(
          call.type,
          call.id,
          call.timeoutMs ? { timeoutMs: call.timeoutMs } : {},
        )
        return { view }
      }
      default:
        throw new ValidationError(`no call of kind ${frame.kind}`)
    }
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/**
 * A call's JSON, held to what the gateway holds a request body to (the depth scanned before
 * parsing, `__proto__` and `constructor` keys refused): a call wraps its input one level deep.
 */
function parseCall(body: Buffer): unknown {
  return parseJsonBody(body.toString('utf8'), MAX_PAYLOAD_DEPTH + 1, 'the call')
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
