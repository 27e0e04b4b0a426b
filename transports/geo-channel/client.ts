// The sending end of the channel between the nodes of a geo (see frames.ts).
import { connect, type Socket } from 'node:net'
import {
  type AnywhereError,
  AskCycleError,
  AskTimeoutError,
  ConfigError,
  FencedError,
  HandlerError,
  IdempotencyKeyReusedError,
  MemberUnreachableError,
  NotOwnerError,
  NotRunningError,
  OutcomeUnknownError,
  OverloadedError,
  PayloadTooLargeError,
  StoreUnavailableError,
  tooLargeMessage,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
  type ActorView,
  type AskOptions,
  type RemoteActors,
  type RemoteAsk,
  type RemoteReply,
  type ValidationIssue,
} from '../../core/index.js'
import {
  FrameBatcher,
  FrameKind,
  FrameReader,
  FRAME_OVERHEAD_BYTES,
  MAX_GEO_CALL_BYTES,
  encodeFrame,
  type Frame,
} from './frames.js'

/** How often a connection looks for calls past their deadline. */
const SWEEP_MS = 250
/** What a call waits past its own timeout (the receiver times the ask out first). */
const ANSWER_GRACE_MS = 1_000
/** Call ids wrap here (u32 on the wire). */
const MAX_CALL_ID = 0xffff_ffff
/**
 * Most bytes of calls waiting to be written to one member (a member that stopped reading:
 * frozen, or its connection stalled). Past it a call fails at once, surely not run, rather
 * than growing the buffer until the member's connection is given up.
 */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024

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
  ['IdempotencyKeyReusedError', (m) => new IdempotencyKeyReusedError(m)],
])

/** The sending end: one connection per member, found by node id, carrying every call to it. */
export class GeoChannelClient implements RemoteActors {
  private readonly connections = new Map<string, MemberConnection>()

  constructor(
    private readonly components: {
      /** The channel URL (`tcp://host:port`) of a member, from the current view. */
      urlOf: (nodeId: string) => string | undefined
      secret: () => string
      askTimeoutMs: number
    },
  ) {}

  ask(node: string, request: RemoteAsk, options?: AskOptions): Promise<RemoteReply> {
    const timeoutMs = options?.timeoutMs ?? this.components.askTimeoutMs
    return this.connection(node).call(
      FrameKind.ASK,
      { ...request, timeoutMs },
      timeoutMs,
      false,
    ) as Promise<RemoteReply>
  }

  async tell(node: string, request: RemoteAsk): Promise<void> {
    await this.connection(node).call(FrameKind.TELL, request, this.components.askTimeoutMs, false)
  }

  async read(node: string, type: string, id: string, options?: AskOptions): Promise<ActorView> {
    const timeoutMs = options?.timeoutMs ?? this.components.askTimeoutMs
    const answer = await this.connection(node).call(
      FrameKind.READ,
      { type, id, timeoutMs },
      timeoutMs,
      true,
    )
    return (answer as { view: ActorView }).view
  }

  /** Closes the connections to nodes no longer in the view (their calls under way fail). */
  prune(keep: ReadonlySet<string>): void {
    for (const [node, connection] of this.connections)
      if (!keep.has(node)) {
        this.connections.delete(node)
        connection.close(new Error(`node ${node} left the geo`))
      }
  }

  async stop(): Promise<void> {
    const connections = [...this.connections.values()]
    this.connections.clear()
    for (const connection of connections) connection.close(new Error('this node is stopping'))
    await Promise.all(connections.map((c) => c.closed))
  }

  private connection(node: string): MemberConnection {
    const url = this.components.urlOf(node)
    if (!url) throw new MemberUnreachableError(`node ${node} is not a member of the geo now`)
    const held = this.connections.get(node)
    if (held && held.url === url && held.open) return held
    held?.close(new Error(`node ${node} moved to ${url}`))
    const connection = new MemberConnection(node, url, this.components.secret())
    this.connections.set(node, connection)
    void connection.closed.then(() => {
      if (this.connections.get(node) === connection) this.connections.delete(node)
    })
    return connection
  }
}

interface PendingCall {
  resolve: (body: unknown) => void
  reject: (error: AnywhereError) => void
  deadline: number
  /** A read: surely harmless to send again, whatever happened to the connection. */
  safe: boolean
  what: string
}

/** One TCP connection to one member: calls go out framed with an id; answers come back by id. */
class MemberConnection {
  readonly closed: Promise<void>
  open = true
  private readonly socket: Socket
  private readonly out: FrameBatcher
  private readonly pending = new Map<number, PendingCall>()
  private nextId = 1
  private connected = false
  private failure: Error | undefined
  private readonly sweep: NodeJS.Timeout

  constructor(
    private readonly node: string,
    readonly url: string,
    secret: string,
  ) {
    const { hostname, port } = new URL(url)
    this.socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) })
    this.socket.setNoDelay(true)
    this.out = new FrameBatcher((bytes) => {
      if (!this.socket.destroyed) this.socket.write(bytes)
    })
    this.out.push(encodeFrame(0, FrameKind.HELLO, { secret }))
    const reader = new FrameReader(MAX_GEO_CALL_BYTES)
    this.socket.on('connect', () => (this.connected = true))
    this.socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => this.answer(frame))
      } catch (error) {
        this.close(
          new Error(`node ${node} answered with a frame over ${MAX_GEO_CALL_BYTES} bytes`, {
            cause: error,
          }),
        )
      }
    })
    this.socket.on('error', (error) => (this.failure ??= error))
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.open = false
        clearInterval(this.sweep)
        this.failAll()
        resolve()
      }),
    )
    this.sweep = setInterval(() => this.expire(), SWEEP_MS)
    this.sweep.unref()
  }

  call(kind: FrameKind, body: unknown, timeoutMs: number, safe: boolean): Promise<unknown> {
    if (!this.open)
      return Promise.reject(
        new MemberUnreachableError(`node ${this.node} of the geo: its connection is closed`),
      )
    const id = this.nextId
    const frame = encodeFrame(id, kind, body)
    // The receiver cuts a connection that sends a frame over its limit, and with it every
    // call under way on it: a call too large fails alone, here, having surely not run.
    if (frame.length - FRAME_OVERHEAD_BYTES > MAX_GEO_CALL_BYTES)
      return Promise.reject(
        new PayloadTooLargeError(
          tooLargeMessage(
            `${KIND_NAMES[kind] ?? 'a call'} to node ${this.node} of the geo`,
            frame.length - FRAME_OVERHEAD_BYTES,
            MAX_GEO_CALL_BYTES,
          ),
        ),
      )
    if (this.socket.writableLength + this.out.bytes > MAX_UNSENT_BYTES)
      return Promise.reject(
        new MemberUnreachableError(
          `node ${this.node} of the geo is not reading its calls (${this.socket.writableLength + this.out.bytes} bytes wait to be written to it)`,
        ),
      )
    this.nextId = id === MAX_CALL_ID ? 1 : id + 1
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve,
        reject,
        deadline: Date.now() + timeoutMs + ANSWER_GRACE_MS,
        safe,
        what: KIND_NAMES[kind] ?? 'call',
      })
      this.out.push(frame)
    })
  }

  close(reason: Error): void {
    this.failure ??= reason
    this.open = false
    this.socket.destroy()
  }

  private answer(frame: Frame): void {
    if (frame.id === 0) {
      // The hello was refused: no call on this connection ran.
      this.close(
        new ConfigError(
          `node ${this.node} refused this node's geo secret: the nodes of a geo share one Redis and one prefix`,
        ),
      )
      return
    }
    const call = this.pending.get(frame.id)
    if (!call) return // answered after its deadline: its caller has its AskTimeoutError already
    this.pending.delete(frame.id)
    let json: { error?: string; message?: string; issues?: unknown } & Record<string, unknown>
    try {
      json = JSON.parse(frame.body.toString('utf8')) as typeof json
    } catch (error) {
      return call.reject(
        new OutcomeUnknownError(`node ${this.node} answered ${call.what} with no JSON`, {
          cause: error,
        }),
      )
    }
    if (frame.kind === FrameKind.OK) return call.resolve(json)
    const message = json.message ?? `node ${this.node} failed ${call.what}`
    if (json.error === 'ValidationError' && Array.isArray(json.issues))
      return call.reject(new ValidationError(message, { issues: json.issues as ValidationIssue[] }))
    const rebuild = ERROR_CLASSES.get(json.error ?? '')
    call.reject(
      rebuild
        ? rebuild(message)
        : new OutcomeUnknownError(`node ${this.node} failed ${call.what}: ${message}`),
    )
  }

  /**
   * Calls past their deadline: no answer in time, and it may or may not have run. On a
   * connection that never opened, the calls are still in its write buffer, and a connect
   * that succeeded later would send them: the connection is destroyed first, and then they
   * surely did not run (failAll, as it closes, says so).
   */
  private expire(): void {
    if (this.pending.size === 0) return
    const now = Date.now()
    let unopened = false
    for (const [id, call] of this.pending) {
      if (call.deadline > now) continue
      if (!this.connected) {
        unopened = true
        continue
      }
      this.pending.delete(id)
      call.reject(
        new AskTimeoutError(
          `node ${this.node} of the geo gave no answer to ${call.what} in time; it may or may not have run`,
        ),
      )
    }
    if (unopened) this.close(new Error('its connection did not open in time'))
  }

  /** The connection closed: calls never sent (it never connected) or reads are safe to retry. */
  private failAll(): void {
    const reason = this.failure ?? new Error('the connection closed')
    const refused = reason instanceof ConfigError
    for (const call of this.pending.values()) {
      const message = `node ${this.node} of the geo could not be reached for ${call.what}: ${reason.message}`
      if (refused) call.reject(reason)
      else if (!this.connected || call.safe)
        call.reject(new MemberUnreachableError(message, { cause: reason }))
      else
        call.reject(
          new OutcomeUnknownError(`${message}; it may or may not have run`, { cause: reason }),
        )
    }
    this.pending.clear()
  }
}

const KIND_NAMES: Partial<Record<number, string>> = {
  [FrameKind.ASK]: 'an ask',
  [FrameKind.TELL]: 'a tell',
  [FrameKind.READ]: 'a read',
}
