import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../core/index.js'
import { createNode, type AnywhereNode, type NodeConfigInput } from '../../node/index.js'
import { tokenDigest } from '../../transports/http/index.js'

/** One sample of a Prometheus text exposition: its value, or undefined when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    )
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3])
  }
  return undefined
}

async function startNode(
  input: Partial<NodeConfigInput> = {},
): Promise<{ node: AnywhereNode; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-metrics-'))
  const node = await createNode(
    { geo: 'eu', dataDir: dir, store: { kind: 'memory' }, http: { port: 0 }, ...input },
    { logger: silentLogger() },
  )
  const stop = async () => {
    await node.stop()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await node.start()
  } catch (error) {
    await stop()
    throw error
  }
  return { node, stop }
}

describe('node: Prometheus metrics at GET /metrics', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let stop: (() => Promise<void>) | undefined
  let base: string

  before(async () => {
    ;({ node, stop } = await startNode())
    base = node.gateway!.url
  })
  after(async () => {
    await stop?.()
  })

  const scrape = async () => {
    const reply = await fetch(`${base}/metrics`)
    assert.equal(reply.status, 200)
    assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    return reply.text()
  }

  it('moves with the work done: handled messages equal the commands sent, failures and requests are counted', async () => {
    const before = await scrape()
    const handledBefore =
      sample(before, 'anywhere_runtime_messages_handled_total', { actor_type: 'counter' }) ?? 0
    const COMMANDS = 40
    for (let i = 0; i < COMMANDS; i++) {
      const reply = await fetch(`${base}/v1/actors/counter/m-${i % 4}/increment`, {
        method: 'POST',
        body: '{"by":1}',
      })
      assert.equal(reply.status, 200, await reply.text())
    }
    const bad = await fetch(`${base}/v1/actors/counter/m-0/increment`, {
      method: 'POST',
      body: '{"by":"one"}',
    })
    assert.equal(bad.status, 400)
    const unknown = await fetch(`${base}/v1/actors/counter/m-0/no-such-command-${Date.now()}`, {
      method: 'POST',
    })
    assert.equal(unknown.status, 404)

    const after = await scrape()
    const label = { actor_type: 'counter' }
    assert.equal(
      sample(after, 'anywhere_runtime_messages_handled_total', label),
      handledBefore + COMMANDS,
    )
    assert.equal(sample(after, 'anywhere_runtime_messages_failed_total', label), 2)
    assert.equal(sample(after, 'anywhere_runtime_actors_in_memory'), 4)
    assert.equal(sample(after, 'anywhere_runtime_mailbox_backlog'), 0)
    assert.equal(
      sample(after, 'anywhere_runtime_rehydrations_total'),
      0,
      'new actors have nothing to load',
    )
    // Each increment emits one event: one append of one event per command.
    assert.equal(sample(after, 'anywhere_store_append_batch_events_count'), COMMANDS)
    assert.equal(sample(after, 'anywhere_store_append_batch_events_bucket', { le: '1' }), COMMANDS)
    assert.equal(
      sample(after, 'anywhere_store_append_duration_seconds_count'),
      Math.floor(COMMANDS / 32),
      'one append in 32 is timed',
    )
    assert.equal(sample(after, 'anywhere_store_errors_total', { operation: 'append' }), 0)
    const ok = {
      method: 'POST',
      route: '/v1/actors/:type/:id/:command',
      actor_type: 'counter',
      command: 'increment',
      status: '200',
      geo: 'eu',
    }
    assert.equal(sample(after, 'anywhere_http_requests_total', ok), COMMANDS)
    assert.equal(sample(after, 'anywhere_http_requests_total', { ...ok, status: '400' }), 1)
    // A command no actor declares is `other`: a client cannot grow the label set.
    assert.equal(
      sample(after, 'anywhere_http_requests_total', { ...ok, command: 'other', status: '404' }),
      1,
    )
    assert.ok(
      (sample(after, 'anywhere_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/actors/:type/:id/:command',
      }) ?? 0) >=
        COMMANDS + 2,
    )
    assert.equal(sample(after, 'anywhere_node_info', { node_id: node.nodeId, app: 'anywhere' }), 1)
    assert.ok(
      (sample(after, 'process_cpu_user_seconds_total') ?? -1) >= 0,
      'default process metrics',
    )
    // No label value is an actor id or an address ending in one (a memory node's id,
    // local-mem-<hex>, may hold 'm-0' inside it: that is not one).
    assert.doesNotMatch(after, /="(?:[^"]*\/)?m-\d+"/, 'no actor id in any label')
  })

  it('labels an unmatched path as one route, whatever the path', async () => {
    for (const path of ['/nope/1', '/nope/2', '/v1/nope'])
      assert.equal((await fetch(base + path)).status, 404)
    const text = await scrape()
    assert.equal(
      sample(text, 'anywhere_http_requests_total', { route: 'unmatched', status: '404' }),
      3,
    )
    assert.doesNotMatch(text, /nope/)
  })

  it('counts handler latency on a sample of the commands (one in 32)', async () => {
    for (let i = 0; i < 64; i++)
      await node.runtime.ask('counter', 'sampled', 'increment', { by: 1 })
    const text = await scrape()
    const count =
      sample(text, 'anywhere_runtime_handler_duration_seconds_count', { actor_type: 'counter' }) ??
      0
    const handled =
      sample(text, 'anywhere_runtime_messages_handled_total', { actor_type: 'counter' }) ?? 0
    assert.equal(count, Math.floor(handled / 32), `${count} samples of ${handled} commands`)
    assert.equal(
      sample(text, 'anywhere_runtime_handler_duration_seconds_bucket', {
        actor_type: 'counter',
        le: '+Inf',
      }),
      count,
    )
  })
})

describe('node: /metrics access and switch', function () {
  this.timeout(20_000)
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop()
  })

  it('needs the admin scope when auth is configured', async () => {
    const { node, stop } = await startNode({
      http: {
        port: 0,
        auth: {
          tokens: [
            { name: 'app', sha256: tokenDigest('write-token-0123456789'), scopes: ['write'] },
            { name: 'ops', sha256: tokenDigest('admin-token-0123456789'), scopes: ['admin'] },
          ],
        },
      },
    })
    stops.push(stop)
    const url = `${node.gateway!.url}/metrics`
    assert.equal((await fetch(url)).status, 401)
    const writer = await fetch(url, { headers: { authorization: 'Bearer write-token-0123456789' } })
    assert.equal(writer.status, 403)
    const admin = await fetch(url, { headers: { authorization: 'Bearer admin-token-0123456789' } })
    assert.equal(admin.status, 200)
    assert.match(await admin.text(), /anywhere_runtime_messages_handled_total/)
  })

  it('is absent (404) with metrics.enabled false', async () => {
    const { node, stop } = await startNode({ metrics: { enabled: false } })
    stops.push(stop)
    assert.equal(node.metrics, undefined)
    assert.equal((await fetch(`${node.gateway!.url}/metrics`)).status, 404)
  })
})
