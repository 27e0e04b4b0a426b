import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { createNode, type AnywhereNode } from '../../../node/node.js'
import { defineActor } from '../../../core/index.js'

const fragile = defineActor({
  type: 'fragile',
  initialState: { writes: 0 },
  events: { written: z.object({}) },
  apply: (state) => ({ writes: state.writes + 1 }),
  commands: (command) => ({
    write: command(z.object({}), (ctx) => {
      ctx.emit('written', {})
      return ctx.state
    }),
    explode: command(z.object({}), (ctx) => {
      ctx.emit('written', {})
      throw new Error('the handler exploded')
    }),
    slowWrite: command(z.object({ ms: z.number() }), async (ctx, input) => {
      await new Promise((resolve) => setTimeout(resolve, input.ms))
      ctx.emit('written', {})
      return ctx.state
    }),
  }),
})

describe('HTTP gateway', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let dir: string
  let base: string

  const post = (path: string, body?: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-gw-'))
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
    base = node.gateway!.url
  })

  after(async () => {
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('POST a command → 200 with the reply; GET → the state itself, with metadata in headers', async () => {
    const reply = await post('/v1/actors/counter/gw-1/increment', '{"by":4}')
    assert.equal(reply.status, 200)
    assert.deepEqual(await reply.json(), { value: 4 })
    const read = await fetch(`${base}/v1/actors/counter/gw-1`)
    assert.equal(read.status, 200)
    assert.deepEqual(await read.json(), { value: 4 })
    assert.equal(read.headers.get('x-anywhere-event-count'), '1')
    assert.equal(read.headers.get('x-anywhere-geo'), 'local')
  })

  it('an empty body is an empty input (defaults apply)', async () => {
    const reply = await post('/v1/actors/counter/gw-empty/increment')
    assert.deepEqual(await reply.json(), { value: 1 })
  })

  it('400 with the zod issues for a wrong input, and for a body that is not JSON', async () => {
    const wrong = await post('/v1/actors/counter/gw-2/increment', '{"by":"two"}')
    assert.equal(wrong.status, 400)
    const body = (await wrong.json()) as { error: string; issues: Array<{ path: string[] }> }
    assert.equal(body.error, 'ValidationError')
    assert.deepEqual(body.issues[0]?.path, ['by'])
    const garbage = await post('/v1/actors/counter/gw-2/increment', '{"by":')
    assert.equal(garbage.status, 400)
    assert.equal(((await garbage.json()) as { error: string }).error, 'ValidationError')
    assert.deepEqual(
      await (await fetch(`${base}/v1/actors/counter/gw-2`)).json(),
      { value: 0 },
      'nothing was applied',
    )
  })

  it('400 for a body with a __proto__ key (prototype poisoning), and nothing is stored', async () => {
    const reply = await post(
      '/v1/actors/map/gw-proto/put',
      '{"key":"k","value":{"__proto__":{"polluted":true}}}',
    )
    assert.equal(reply.status, 400)
    assert.equal(((await reply.json()) as { error: string }).error, 'ValidationError')
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.deepEqual(await node.store.readActor('map', 'gw-proto'), [])
  })

  it('404 for an unknown actor type or command, with a stable error name', async () => {
    const type = await post('/v1/actors/nothing/x/increment', '{}')
    assert.equal(type.status, 404)
    assert.equal(((await type.json()) as { error: string }).error, 'UnknownActorTypeError')
    const command = await post('/v1/actors/counter/x/explode', '{}')
    assert.equal(command.status, 404)
    assert.equal(((await command.json()) as { error: string }).error, 'UnknownCommandError')
    assert.equal((await fetch(`${base}/v1/nothing`)).status, 404)
  })

  it('413 over the body limit', async () => {
    const reply = await post(
      '/v1/actors/counter/gw-3/increment',
      JSON.stringify({ by: 1, pad: 'x'.repeat(10_000) }),
    )
    assert.equal(reply.status, 413)
    assert.equal(((await reply.json()) as { error: string }).error, 'PayloadTooLargeError')
  })

  it('500 with a message when the handler throws, and nothing is persisted', async () => {
    await post('/v1/actors/fragile/f/write', '{}')
    const reply = await post('/v1/actors/fragile/f/explode', '{}')
    assert.equal(reply.status, 500)
    const body = (await reply.json()) as { error: string; message: string }
    assert.equal(body.error, 'HandlerError')
    assert.match(body.message, /the handler exploded/)
    assert.deepEqual(await (await fetch(`${base}/v1/actors/fragile/f`)).json(), { writes: 1 })
    assert.equal((await node.store.readActor('fragile', 'f')).length, 1)
  })

  it('an Idempotency-Key makes a retried command take effect once and return the first reply', async () => {
    const headers = { 'idempotency-key': 'order-42' }
    const first = await post('/v1/actors/counter/gw-idem/increment', '{"by":10}', headers)
    const again = await post('/v1/actors/counter/gw-idem/increment', '{"by":10}', headers)
    assert.deepEqual(await first.json(), { value: 10 })
    assert.deepEqual(await again.json(), { value: 10 })
    assert.equal(again.headers.get('idempotent-replayed'), 'true')
    const concurrent = await Promise.all(
      [1, 2, 3].map(() =>
        post('/v1/actors/counter/gw-idem/increment', '{"by":1}', { 'idempotency-key': 'burst' }),
      ),
    )
    assert.deepEqual(await Promise.all(concurrent.map((r) => r.json())), [
      { value: 11 },
      { value: 11 },
      { value: 11 },
    ])
    assert.deepEqual(await (await fetch(`${base}/v1/actors/counter/gw-idem`)).json(), { value: 11 })
  })

  it('a retry after a timed-out command (which still runs) does not run it again', async () => {
    const headers = { 'idempotency-key': 'slow-1' }
    const first = await post('/v1/actors/fragile/slow/slowWrite', '{"ms":500}', headers)
    assert.equal(first.status, 504)
    // Queued behind the first run: it gets that run's reply, or times out waiting for it.
    const retry = await post('/v1/actors/fragile/slow/slowWrite', '{"ms":500}', headers)
    assert.ok([200, 504].includes(retry.status), `retry answered ${retry.status}`)
    const deadline = Date.now() + 10_000
    let stored = await node.store.readActor('fragile', 'slow')
    while (stored.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      stored = await node.store.readActor('fragile', 'slow')
    }
    // Once the first run is stored, a retry is answered from its record, never run again.
    const late = await post('/v1/actors/fragile/slow/slowWrite', '{"ms":500}', headers)
    assert.equal(late.status, 200)
    assert.equal(late.headers.get('idempotent-replayed'), 'true')
    assert.deepEqual(await late.json(), { writes: 1 })
    stored = await node.store.readActor('fragile', 'slow')
    assert.deepEqual(
      stored.map((e) => e.type),
      ['$keyed', 'written'],
    )
  })

  it('GET /healthz and GET /v1/actors', async () => {
    const health = (await (await fetch(`${base}/healthz`)).json()) as {
      status: string
      nodeId: string
    }
    assert.equal(health.status, 'ok')
    assert.equal(health.nodeId, node.nodeId)
    const actors = (await (await fetch(`${base}/v1/actors`)).json()) as {
      actors: Array<{ type: string }>
    }
    assert.deepEqual(actors.actors.map((a) => a.type).sort(), [
      'cart',
      'counter',
      'fragile',
      'map',
      'register',
      'set',
    ])
  })

  it('streams taps as server-sent events, filtered by kind', async () => {
    const controller = new AbortController()
    const response = await fetch(`${base}/v1/taps?kind=event.appended`, {
      signal: controller.signal,
    })
    assert.equal(response.headers.get('content-type'), 'text/event-stream')
    const reader = response.body!.getReader()
    await reader.read() // the opening comment
    await post('/v1/actors/counter/gw-tap/increment', '{}')
    let text = ''
    const deadline = Date.now() + 5_000
    while (!text.includes('\n\n') && Date.now() < deadline)
      text += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    assert.match(text, /^event: event\.appended\ndata: /)
    const data = JSON.parse(text.split('\n')[1]!.slice(6)) as { events: Array<{ actorId: string }> }
    assert.equal(data.events[0]?.actorId, 'gw-tap')
  })
})
