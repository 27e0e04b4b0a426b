// The sending end of the channel between the nodes of a geo (see geo-channel.ts).
import { Pool, errors as undiciErrors } from 'undici'
import { dispatchToGeo, type GeoAnswer } from './edge/dispatch.js'
import {
  type AnywhereError,
  AskCycleError,
  AskTimeoutError,
  FencedError,
  HandlerError,
  IdempotencyKeyReusedError,
  MemberUnreachableError,
  NotOwnerError,
  NotRunningError,
  OutcomeUnknownError,
  OverloadedError,
  StoreUnavailableError,
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
import { GEO_SECRET_HEADER, MAX_GEO_CALL_BYTES } from './geo-channel.js'

/** Connections kept per member. */
const CONNECTIONS_PER_MEMBER = 64

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

  ask(node: string, request: RemoteAsk, options?: AskOptions): Promise<RemoteReply> {
    const timeoutMs = options?.timeoutMs ?? this.components.askTimeoutMs
    return this.call(node, '/geo/v1/ask', { ...request, timeoutMs }, timeoutMs, false).then(
      (body) => body as RemoteReply,
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
      if (!keep.has(node)) {
        this.calls.delete(node)
        for (const call of calls) call.abort(new Error(`node ${node} left the geo`))
      }
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
