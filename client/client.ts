// The typed HTTP client of a node: commands and reads of actors, with retries that never
// apply a command twice.
import type { AnyActorDefinition } from '../core/actor.js'
import {
  AnywhereClientError,
  ClientTimeoutError,
  NetworkError,
  errorFromResponse,
} from './errors.js'
import { maxResponseBytesOf, readBoundedBody } from './response-body.js'
import {
  abortedError,
  attemptSignal,
  backoffMs,
  delay,
  isRetryable,
  retryPolicy,
  type RetryInit,
  type RetryPolicy,
} from './retry.js'
import type {
  ActorOfType,
  ActorSet,
  ActorTypeName,
  CallOptions,
  ReadResult,
  RemoteActor,
} from './types.js'

/** Deadline of one attempt unless configured otherwise. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000

/** What a client is configured with. */
export interface ClientOptions {
  /** Headers sent with every call, e.g. `{ authorization: 'Bearer ...' }`. */
  readonly headers?: Readonly<Record<string, string>>
  /** The `fetch` to call (default: the global one): for tests, proxies and older runtimes. */
  readonly fetch?: typeof fetch
  /** Deadline of each attempt in ms. Default 10 s. */
  readonly timeoutMs?: number
  /** How failed attempts are retried (see `RetryInit`); `{ retries: 0 }` turns retries off. */
  readonly retry?: RetryInit
  /**
   * Largest answer body read, in bytes: a longer one rejects with ResponseTooLargeError and is
   * not read further. Default 16 MiB.
   */
  readonly maxResponseBytes?: number
}

/** A client of one node's gateway, typed by the actor definitions the node serves. */
export interface AnywhereClient<A extends ActorSet> {
  /** The gateway's base URL, without a trailing slash. */
  readonly baseUrl: string
  /** The actor `id` of type `type`: `client.actor('counter', 'likes').ask('increment', { by: 1 })`. */
  actor<T extends ActorTypeName<A>>(type: T, id: string): RemoteActor<ActorOfType<A, T>>
}

/**
 * Creates a client of the node at `baseUrl`, typed by the actor definitions it serves:
 *
 * ```ts
 * import type { builtInActors } from 'anywhere-node/actors'
 * const client = createClient<typeof builtInActors>('http://127.0.0.1:8080')
 * const { value } = await client.actor('counter', 'likes').ask('increment', { by: 1 })
 * ```
 *
 * Only the definitions' types are used: the browser bundle holds none of the server's code.
 */
export function createClient<A extends ActorSet = readonly AnyActorDefinition[]>(
  baseUrl: string | URL,
  options: ClientOptions = {},
): AnywhereClient<A> {
  const transport = new ClientTransport(String(baseUrl).replace(/\/+$/, ''), options)
  return {
    baseUrl: transport.baseUrl,
    actor: (type, id) => remoteActor(transport, type, id),
  }
}

function remoteActor<D extends AnyActorDefinition>(
  transport: ClientTransport,
  type: D['type'],
  id: string,
): RemoteActor<D> {
  const path = `/v1/actors/${encodeURIComponent(type)}/${encodeURIComponent(id)}`
  return {
    type,
    id,
    ask: (command, ...[input, options]) =>
      transport.command(`${path}/${encodeURIComponent(command)}`, input ?? {}, options) as never,
    read: (options) => transport.read(path, options) as Promise<ReadResult<D>>,
  }
}

/** Sends requests with the client's headers, deadline and retry policy. */
class ClientTransport {
  private readonly fetch: typeof fetch
  private readonly retry: RetryPolicy
  private readonly timeoutMs: number
  private readonly maxResponseBytes: number

  constructor(
    readonly baseUrl: string,
    private readonly options: ClientOptions,
  ) {
    if (!/^https?:\/\//.test(baseUrl))
      throw new TypeError(`the base URL must start with http:// or https://, got '${baseUrl}'`)
    const fetchImpl = options.fetch ?? globalThis.fetch
    if (typeof fetchImpl !== 'function')
      throw new TypeError('this runtime has no global fetch: pass options.fetch')
    this.fetch = fetchImpl
    this.retry = retryPolicy(options.retry)
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS
    this.maxResponseBytes = maxResponseBytesOf(options.maxResponseBytes, 'maxResponseBytes')
  }

  /** POSTs a command. One Idempotency-Key for the whole call, sent again on every retry. */
  async command(path: string, input: unknown, options: CallOptions = {}): Promise<unknown> {
    const key = options.idempotencyKey ?? newIdempotencyKey()
    const body = JSON.stringify(input)
    const maxBytes = this.maxBytesOf(options)
    return this.withRetries(options, (signal) =>
      this.send(path, maxBytes, {
        method: 'POST',
        body,
        signal,
        headers: this.headers(options, {
          'content-type': 'application/json',
          'idempotency-key': key,
        }),
      }),
    )
  }

  /** GETs an actor's state. A read changes nothing, so every transient failure is retried. */
  async read(path: string, options: CallOptions = {}): Promise<unknown> {
    const maxBytes = this.maxBytesOf(options)
    return this.withRetries(options, (signal) =>
      this.send(path, maxBytes, { method: 'GET', signal, headers: this.headers(options, {}) }),
    )
  }

  private maxBytesOf(options: CallOptions): number {
    return options.maxResponseBytes === undefined
      ? this.maxResponseBytes
      : maxResponseBytesOf(options.maxResponseBytes, 'options.maxResponseBytes')
  }

  private headers(options: CallOptions, own: Record<string, string>): Record<string, string> {
    return { accept: 'application/json', ...this.options.headers, ...options.headers, ...own }
  }

  private async withRetries(
    options: CallOptions,
    attempt: (signal: AbortSignal) => Promise<{ status: number; text: string }>,
  ): Promise<unknown> {
    for (let retry = 0; ; retry++) {
      if (options.signal?.aborted) throw abortedError(options.signal)
      const deadline = attemptSignal(options.timeoutMs ?? this.timeoutMs, options.signal)
      let error: AnywhereClientError
      try {
        const { status, text } = await attempt(deadline.signal)
        if (status >= 200 && status < 300) return parseReply(status, text)
        error = errorFromResponse(status, text)
      } catch (thrown) {
        if (options.signal?.aborted) throw abortedError(options.signal)
        if (thrown instanceof AnywhereClientError) throw thrown
        error = deadline.timedOut()
          ? new ClientTimeoutError(`no answer within ${options.timeoutMs ?? this.timeoutMs} ms`, {
              cause: thrown,
            })
          : new NetworkError(`the request failed: ${describe(thrown)}`, { cause: thrown })
      } finally {
        deadline.done()
      }
      if (retry >= this.retry.retries || !isRetryable(error)) throw error
      await delay(backoffMs(this.retry, retry), options.signal)
    }
  }

  /** One attempt: the status and the whole body, at most `maxBytes` (read under the attempt's signal). */
  private async send(
    path: string,
    maxBytes: number,
    init: RequestInit,
  ): Promise<{ status: number; text: string }> {
    const response = await this.fetch(`${this.baseUrl}${path}`, init)
    return { status: response.status, text: await readBoundedBody(response, maxBytes) }
  }
}

/** A 2xx answer's body: JSON, or nothing when the handler returned nothing. */
function parseReply(status: number, text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    // Not the gateway's answer (a proxy's page, say): retrying would not change it.
    throw new AnywhereClientError(`HTTP ${status} with a body that is not JSON`, {
      status,
      errorName: 'InvalidResponseError',
      cause: error,
    })
  }
}

/** A fresh Idempotency-Key: a random UUID where the runtime has one. */
export function newIdempotencyKey(): string {
  const crypto = (
    globalThis as {
      crypto?: { randomUUID?: () => string; getRandomValues?: (bytes: Uint8Array) => unknown }
    }
  ).crypto
  if (crypto?.randomUUID) return crypto.randomUUID()
  const bytes = new Uint8Array(16)
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes)
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
