// anywhere-node/client against a real node (memory store, port 0 on 127.0.0.1).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { createNode, type AnywhereNode } from '../../node/node.js'
import { defineActor } from '../../core/index.js'
import type { builtInActors } from '../../actors/index.js'
import {
  AnywhereClientError,
  ClientAbortedError,
  ClientTimeoutError,
  createClient,
  NetworkError,
  RemoteAskTimeoutError,
  RemoteHandlerError,
  RemoteIdempotencyKeyReusedError,
  RemotePayloadTooLargeError,
  RemoteUnknownActorTypeError,
  RemoteUnknownCommandError,
  RemoteValidationError,
  type ClientOptions,
} from '../../client/index.js'

const fragile = defineActor({
  type: 'fragile',
  initialState: { writes: 0 },
  events: { written: z.object({}) },
  apply: (state) => ({ writes: state.writes + 1 }),
  commands: (command) => ({
    explode: command(z.object({}), () => {
      throw new Error('the handler exploded')
    }),
    slowWrite: command(z.object({ ms: z.number() }), async (ctx, input) => {
      await new Promise((resolve) => setTimeout(resolve, input.ms))
      ctx.emit('written', {})
      return ctx.state
    }),
    blob: command(z.object({ text: z.string() }), (ctx) => ctx.state),
  }),
})

type Actors = readonly [...typeof builtInActors, typeof fragile]

/** Every request a client made through it, and the answers it got. */
interface Recorded {
  calls: Array<{ url: string; method: string; headers: Headers }>
}

/** A fetch that records each call, and runs `fault` (if any) for the nth call (0-based). */
function recordingFetch(
  fault?: (n: number, run: () => Promise<Response>) => Promise<Response>,
): Recorded & { fetch: typeof fetch } {
  const calls: Recorded['calls'] = []
  const wrapped: typeof fetch = (input, init) => {
    const n = calls.length
    calls.push({
      url: input instanceof Request ? input.url : input.toString(),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
    })
    const run = () => fetch(input, init)
    return fault ? fault(n, run) : run()
  }
  return { calls, fetch: wrapped }
}

describe('anywhere-node/client', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let dir: string
  const fast: ClientOptions['retry'] = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 }
  const client = (options: ClientOptions = {}) =>
    createClient<Actors>(node.gateway!.url, { retry: fast, ...options })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-client-'))
    node = await createNode(
      {
        dataDir: dir,
        store: { kind: 'memory' },
        http: { port: 0, bodyLimitBytes: 4096 },
        runtime: { askTimeoutMs: 300 },
        log: { level: 'silent' },
      },
      { actors: [fragile] },
    )
    await node.start()
  })

  after(async () => {
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('typed commands and reads work end to end (state, view, default input)', async () => {
    const counter = client().actor('counter', 'c-1')
    assert.deepEqual(await counter.ask('increment', { by: 2 }), { value: 2 })
    assert.deepEqual(await counter.ask('increment'), { value: 3 })
    assert.deepEqual(await counter.read(), { value: 3 })
    const set = client().actor('set', 's-1')
    await set.ask('add', { element: 'pear' })
    assert.deepEqual(await set.read(), { elements: ['pear'] })
  })

  it('sends the client headers and the call headers', async () => {
    const recorded = recordingFetch()
    const typed = client({ fetch: recorded.fetch, headers: { authorization: 'Bearer t-1' } })
    await typed.actor('counter', 'c-h').read({ headers: { 'x-trace': 'abc' } })
    assert.equal(recorded.calls[0]?.headers.get('authorization'), 'Bearer t-1')
    assert.equal(recorded.calls[0]?.headers.get('x-trace'), 'abc')
  })

  it('maps each gateway error to its class, with status and issues', async () => {
    const typed = client()
    const wrong = await typed
      .actor('counter', 'c-e')
      .ask('increment', { by: 'two' as unknown as number })
      .catch((e: unknown) => e)
    assert.ok(wrong instanceof RemoteValidationError, String(wrong))
    assert.equal(wrong.status, 400)
    assert.equal(wrong.errorName, 'ValidationError')
    assert.deepEqual(wrong.issues[0]?.path, ['by'])

    const untyped = createClient(node.gateway!.url, { retry: fast })
    const type = await untyped
      .actor('nothing', 'x')
      .read()
      .catch((e: unknown) => e)
    assert.ok(type instanceof RemoteUnknownActorTypeError, String(type))
    assert.equal(type.status, 404)
    assert.ok(type.servedTypes.includes('counter') && type.servedTypes.includes('fragile'))
    assert.match(type.message, /unknown actor type 'nothing': this node serves 'counter'/)
    const command = await untyped
      .actor('counter', 'x')
      .ask('explode')
      .catch((e: unknown) => e)
    assert.ok(command instanceof RemoteUnknownCommandError, String(command))

    const big = await typed
      .actor('fragile', 'f-big')
      .ask('blob', { text: 'x'.repeat(5000) })
      .catch((e: unknown) => e)
    assert.ok(big instanceof RemotePayloadTooLargeError, String(big))
    assert.equal(big.status, 413)

    const handler = await typed
      .actor('fragile', 'f-1')
      .ask('explode', {})
      .catch((e: unknown) => e)
    assert.ok(handler instanceof RemoteHandlerError, String(handler))
    assert.equal(handler.status, 500)

    const reused = typed.actor('counter', 'c-k')
    await reused.ask('increment', { by: 1 }, { idempotencyKey: 'k-reused' })
    const conflict = await reused
      .ask('increment', { by: 2 }, { idempotencyKey: 'k-reused' })
      .catch((e: unknown) => e)
    assert.ok(conflict instanceof RemoteIdempotencyKeyReusedError, String(conflict))
    assert.equal(conflict.status, 422)
    assert.deepEqual(await reused.read(), { value: 1 }, 'the refused call changed nothing')
  })

  it('a 504 (ask timeout) is a RemoteAskTimeoutError, retried with the same key and applied once', async () => {
    const statuses: number[] = []
    const recorded = recordingFetch(async (_n, run) => {
      const response = await run()
      statuses.push(response.status)
      return response
    })
    const slow = client({ fetch: recorded.fetch, retry: { retries: 2, baseDelayMs: 1 } })
      .actor('fragile', 'f-slow')
      .ask('slowWrite', { ms: 600 })
    // The first attempt times out; a retry waits behind the first run and gets its reply, or
    // times out too when the machine is slow.
    const outcome = await slow.catch((e: unknown) => e)
    if (outcome instanceof RemoteAskTimeoutError) assert.equal(outcome.status, 504)
    else assert.deepEqual(outcome, { writes: 1 })
    assert.equal(statuses[0], 504)
    assert.ok(recorded.calls.length >= 2, `${recorded.calls.length} calls`)
    const keys = new Set(recorded.calls.map((c) => c.headers.get('idempotency-key')))
    assert.equal(keys.size, 1)
    const deadline = Date.now() + 5_000
    while ((await node.store.readActor('fragile', 'f-slow')).length === 0) {
      assert.ok(Date.now() < deadline, 'the slow write never landed')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.deepEqual(await client().actor('fragile', 'f-slow').read(), { writes: 1 })
  })

  it('a response lost after the server ran the command: the retry reuses the key, the command applies once', async () => {
    const recorded = recordingFetch(async (n, run) => {
      const response = await run()
      if (n > 0) return response
      await response.text() // the server answered; the answer never reaches the caller
      throw new TypeError('fetch failed', { cause: new Error('socket hang up') })
    })
    const counter = client({ fetch: recorded.fetch }).actor('counter', 'c-lost')
    assert.deepEqual(await counter.ask('increment', { by: 5 }), { value: 5 })
    assert.equal(recorded.calls.length, 2)
    const [first, second] = recorded.calls.map((c) => c.headers.get('idempotency-key'))
    assert.ok(first && first.length > 0)
    assert.equal(second, first)
    assert.deepEqual(await counter.read(), { value: 5 })
    assert.deepEqual(
      (await node.store.readActor('counter', 'c-lost')).map((e) => e.type),
      ['$keyed', 'incremented'],
    )
  })

  it('two calls get two keys: a key names one logical call, not one input', async () => {
    const recorded = recordingFetch()
    const counter = client({ fetch: recorded.fetch }).actor('counter', 'c-two')
    await counter.ask('increment', { by: 1 })
    await counter.ask('increment', { by: 1 })
    assert.deepEqual(await counter.read(), { value: 2 })
    const keys = recorded.calls.map((c) => c.headers.get('idempotency-key'))
    assert.notEqual(keys[0], keys[1])
  })

  it('retries a 503 with backoff, and never a 400', async () => {
    const unavailable = recordingFetch(async (n, run) =>
      n === 0
        ? Response.json({ error: 'OverloadedError', message: 'try later' }, { status: 503 })
        : run(),
    )
    const counter = client({ fetch: unavailable.fetch }).actor('counter', 'c-503')
    assert.deepEqual(await counter.ask('increment', { by: 1 }), { value: 1 })
    assert.equal(unavailable.calls.length, 2)

    const bad = recordingFetch()
    const error = await client({ fetch: bad.fetch })
      .actor('counter', 'c-400')
      .ask('increment', { by: -1 })
      .catch((e: unknown) => e)
    assert.ok(error instanceof RemoteValidationError)
    assert.equal(bad.calls.length, 1, 'a 4xx is not retried')
  })

  it('a 2xx whose body is not JSON (a proxy page) is a typed error, not retried', async () => {
    const proxy = recordingFetch(async () => new Response('<html>welcome</html>', { status: 200 }))
    const error = await client({ fetch: proxy.fetch })
      .actor('counter', 'c-proxy')
      .ask('increment', { by: 1 })
      .catch((e: unknown) => e)
    assert.ok(error instanceof AnywhereClientError, String(error))
    assert.equal(error.errorName, 'InvalidResponseError')
    assert.equal(error.status, 200)
    assert.equal(proxy.calls.length, 1)
  })

  it('gives up after the configured retries with a NetworkError carrying the cause', async () => {
    const down = recordingFetch(async () => {
      throw new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') })
    })
    const error = await client({ fetch: down.fetch, retry: { retries: 2, baseDelayMs: 1 } })
      .actor('counter', 'c-down')
      .read()
      .catch((e: unknown) => e)
    assert.ok(error instanceof NetworkError, String(error))
    assert.ok(error instanceof AnywhereClientError)
    assert.equal(error.status, undefined)
    assert.ok(error.cause instanceof TypeError)
    assert.equal(down.calls.length, 3)
  })

  it('times an attempt out through its AbortSignal, and stops at once when the caller aborts', async () => {
    const timedOut = await client({
      fetch: hangingFetch(),
      timeoutMs: 50,
      retry: { retries: 1, baseDelayMs: 1 },
    })
      .actor('counter', 'c-t')
      .read()
      .catch((e: unknown) => e)
    assert.ok(timedOut instanceof ClientTimeoutError, String(timedOut))

    const controller = new AbortController()
    const pending = client({ fetch: hangingFetch(), timeoutMs: 10_000 })
      .actor('counter', 'c-a')
      .ask('increment', { by: 1 }, { signal: controller.signal })
    controller.abort()
    const aborted = await pending.catch((e: unknown) => e)
    assert.ok(aborted instanceof ClientAbortedError, String(aborted))
  })
})

/** A fetch that never answers, and rejects when its signal fires, as a real one does. */
function hangingFetch(): typeof fetch {
  return (_input, init) =>
    new Promise<Response>((_resolve, reject) => {
      const signal = init?.signal
      if (signal?.aborted) return reject(signal.reason as Error)
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true })
    })
}
