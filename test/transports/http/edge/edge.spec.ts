// The edge in one process with real nodes: routing choices, pass-through, safe retries and hostile input.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { silentLogger, type TapEvent } from '../../../../core/index.js'
import { createNode, type AnywhereNode } from '../../../../node/index.js'
import {
  chooseGeo,
  edge,
  isLoopback,
  type Edge,
  type GeoView,
} from '../../../../transports/http/edge/index.js'
import { parseFirstResponse, rawExchange } from '../../../support/raw-http.js'
import { startTcpProxy, type TcpProxy } from '../../../support/tcp-proxy.js'

function view(name: string, rttMs: number, more: Partial<GeoView> = {}): GeoView {
  return { name, rttMs, up: true, overloaded: false, shedShare: 0, ...more }
}

describe('edge: choosing a geo', () => {
  const never = () => 0.999
  it('always the nearest up geo when it is not overloaded, whatever the random draw', () => {
    const geos = [view('a', 40), view('b', 5), view('c', 120)]
    for (const r of [0, 0.5, 0.999])
      assert.deepEqual(
        chooseGeo(geos, () => r),
        { geo: geos[1] },
      )
  })

  it('the next nearest when the nearest is down, saying so', () => {
    const geos = [view('a', 40), view('b', 5, { up: false }), view('c', 120)]
    const choice = chooseGeo(geos, never)!
    assert.equal(choice.geo.name, 'a')
    assert.equal(choice.from?.name, 'b')
    assert.equal(choice.reason, 'down')
  })

  it('an overloaded geo sheds its share to the next nearest geo that is not overloaded', () => {
    const geos = [
      view('a', 40, { overloaded: true, shedShare: 0.5 }),
      view('b', 5, { overloaded: true, shedShare: 0.3 }),
      view('c', 120),
    ]
    assert.equal(chooseGeo(geos, () => 0.29)!.geo.name, 'c')
    assert.equal(chooseGeo(geos, () => 0.29)!.reason, 'overloaded')
    assert.equal(chooseGeo(geos, () => 0.3)!.geo.name, 'b')
    // Nobody to take the share: it stays.
    assert.equal(chooseGeo(geos.slice(0, 2), () => 0)!.geo.name, 'b')
  })

  it('skips geos already tried (a retry) and gives up when none is left', () => {
    const geos = [view('a', 40), view('b', 5)]
    const retry = chooseGeo(geos, never, new Set([geos[1]!]))!
    assert.deepEqual([retry.geo.name, retry.reason], ['a', 'retry'])
    assert.equal(chooseGeo(geos, never, new Set(geos)), undefined)
  })
})

describe('edge: its own routes answer this machine only by default', () => {
  it('knows a loopback address when it sees one', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      assert.equal(isLoopback(address), true, address)
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', '1.127.0.0', undefined])
      assert.equal(isLoopback(address), false, String(address))
  })
})

describe('edge: in front of real nodes', function () {
  this.timeout(30_000)
  const nodes: AnywhereNode[] = []
  const servers: Server[] = []
  const proxies: TcpProxy[] = []
  let front: Edge | undefined
  afterEach(async () => {
    await front?.stop()
    front = undefined
    await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
    await Promise.allSettled(proxies.splice(0).map((p) => p.close()))
    await Promise.allSettled(
      servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))),
    )
  })

  async function startGeoNode(geo: string): Promise<AnywhereNode> {
    const node = await createNode({
      geo,
      store: { kind: 'memory' },
      http: { port: 0 },
      log: { level: 'silent' },
    })
    nodes.push(node)
    await node.start()
    return node
  }

  /** A server that reads the request, then drops the connection: a geo dying mid-request. */
  async function dyingGeo(): Promise<{ url: string; requests: () => number }> {
    let requests = 0
    const server = createServer((request, response) => {
      if (request.url === '/readyz') {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ status: 'ready', geo: 'dying' }))
        return
      }
      requests++
      request.resume()
      request.on('end', () => request.socket.destroy())
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    return { url: `http://127.0.0.1:${port}`, requests: () => requests }
  }

  async function startEdge(
    geos: Array<{ url: string; name?: string }>,
    init: { requestTimeoutMs?: number } = {},
  ): Promise<Edge> {
    front = edge({ port: 0, geos, probeIntervalMs: 50, ...init })({ logger: silentLogger() })
    await front.start()
    return front
  }

  it('passes commands, reads, errors and tap streams through, with anywhere-geo', async () => {
    const a = await startGeoNode('a')
    const e = await startEdge([{ url: a.gateway!.url }])
    const post = await fetch(`${e.url}/v1/actors/counter/x/increment`, {
      method: 'POST',
      body: '{"by":3}',
    })
    assert.equal(post.status, 200)
    assert.equal(post.headers.get('anywhere-geo'), 'a')
    assert.deepEqual(await post.json(), { value: 3 })
    const read = await fetch(`${e.url}/v1/actors/counter/x`)
    assert.deepEqual(await read.json(), { value: 3 })
    assert.equal(read.headers.get('x-anywhere-event-count'), '1')
    // The geo's own errors pass through as they are.
    const unknown = await fetch(`${e.url}/v1/actors/nope/x/go`, { method: 'POST', body: '{}' })
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { error: string }).error, 'UnknownActorTypeError')
    const tapsAt = await fetch(`${e.url}/v1/taps?kind=message.received`, {
      signal: AbortSignal.timeout(10_000),
    })
    assert.equal(tapsAt.status, 200)
    assert.equal(tapsAt.headers.get('content-type'), 'text/event-stream')
    assert.equal(tapsAt.headers.get('anywhere-geo'), 'a')
    const reader = tapsAt.body!.getReader()
    await fetch(`${e.url}/v1/actors/counter/y/increment`, { method: 'POST', body: '{}' })
    let text = ''
    for (let i = 0; i < 50 && !text.includes('message.received'); i++)
      text += new TextDecoder().decode((await reader.read()).value)
    assert.match(text, /event: message.received\ndata: .*"id":"y"/)
    await reader.cancel()
    const head = await fetch(`${e.url}/v1/actors/counter/x`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('anywhere-geo'), 'a')
    // Nothing stays counted in flight once the answers (and the tap stream) are done.
    await waitUntil('no request in flight', () => e.status().geos.every((g) => g.pending === 0))
  })

  it('forwards x-forwarded-for with the client address appended', async () => {
    let seen: string | undefined
    const server = createServer((request, response) => {
      if (request.url !== '/readyz') seen = String(request.headers['x-forwarded-for'])
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end('{"geo":"echo"}')
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const e = await startEdge([
      { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` },
    ])
    await fetch(`${e.url}/anything`, { headers: { 'x-forwarded-for': '203.0.113.7' } })
    assert.equal(seen, '203.0.113.7, 127.0.0.1')
  })

  it('gives bad input the gateway’s JSON errors and keeps serving', async () => {
    const a = await startGeoNode('a')
    const e = await startEdge([{ url: a.gateway!.url }], { requestTimeoutMs: 1_000 })
    const big = await fetch(`${e.url}/v1/actors/counter/x/increment`, {
      method: 'POST',
      body: 'x'.repeat(2 * 1024 * 1024),
    })
    assert.equal(big.status, 413)
    assert.equal(((await big.json()) as { error: string }).error, 'PayloadTooLargeError')
    const malformed = await fetch(`${e.url}/v1/actors/counter/x/increment`, {
      method: 'POST',
      body: '{"by":',
    })
    assert.equal(malformed.status, 400)
    assert.equal(((await malformed.json()) as { error: string }).error, 'ValidationError')
    const port = Number(new URL(e.url).port)
    const noHost = await rawExchange(port, {
      chunks: [Buffer.from('GET /v1/actors HTTP/1.1\r\nConnection: close\r\n\r\n')],
      waitMs: 5_000,
    })
    const answer = parseFirstResponse(noHost.bytes)
    assert.equal(answer?.status, 400)
    assert.equal((JSON.parse(answer.body) as { error: string }).error, 'ValidationError')
    const connect = await rawExchange(port, {
      chunks: [Buffer.from('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example\r\n\r\n')],
      waitMs: 5_000,
    })
    assert.equal(parseFirstResponse(connect.bytes)?.status, 405)
    // A slowly dripped body is cut off near the request timeout, not held.
    const body = '{"by":1}'
    const drip = await rawExchange(port, {
      chunks: [
        Buffer.from(
          `POST /v1/actors/counter/x/increment HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length + 100}\r\n\r\n`,
        ),
        ...Array.from({ length: 40 }, () => Buffer.from(' ')),
      ],
      gapMs: 100,
      waitMs: 10_000,
    })
    assert.ok(drip.closed && drip.ms < 3_500, `held ${drip.ms} ms`)
    const dripped = parseFirstResponse(drip.bytes)
    if (dripped) assert.equal(dripped.status, 408)
    const ok = await fetch(`${e.url}/v1/actors/counter/x/increment`, { method: 'POST', body: '{}' })
    assert.equal(ok.status, 200, 'the edge still serves')
  })

  it('retries on the next geo only what is safe to repeat; otherwise says the outcome is unknown', async () => {
    const dying = await dyingGeo()
    const b = await startGeoNode('b')
    // b is made farther than the dying geo by a proxy that delays every chunk 30 ms.
    const far = await startTcpProxy({ targetPort: Number(new URL(b.gateway!.url).port) })
    proxies.push(far)
    far.delay(30)
    const e = await startEdge([
      { url: dying.url, name: 'dying' },
      { url: `http://127.0.0.1:${far.port}`, name: 'b' },
    ])
    const routed: TapEvent[] = []
    e.taps.of('request.routed').subscribe((t) => routed.push(t))
    assert.equal((e.status().geos[0] as { name: string }).name, 'dying')
    const unsafe = await fetch(`${e.url}/v1/actors/counter/u/increment`, {
      method: 'POST',
      body: '{}',
    })
    assert.equal(unsafe.status, 502)
    const body = (await unsafe.json()) as { error: string; message: string }
    assert.equal(body.error, 'OutcomeUnknownError')
    assert.match(body.message, /may or may not have been applied/)
    assert.equal((await b.runtime.read('counter', 'u')).eventCount, 0, 'not retried on b')

    // The dying geo answers its probes: it is up again after upAfterProbes of them.
    await waitUntil('the dying geo to be up again', () =>
      e.status().geos.some((g) => g.name === 'dying' && g.up === true),
    )
    const keyed = await fetch(`${e.url}/v1/actors/counter/k/increment`, {
      method: 'POST',
      body: '{}',
      headers: { 'idempotency-key': 'once' },
    })
    assert.equal(keyed.status, 200)
    assert.equal(keyed.headers.get('anywhere-geo'), 'b')
    assert.deepEqual((await b.runtime.read('counter', 'k')).state, { value: 1 })
    assert.ok(
      routed.some((t) => t.kind === 'request.routed' && t.reason === 'retry' && t.to === 'b'),
      JSON.stringify(routed),
    )
    assert.equal(dying.requests(), 2, 'each request reached the dying geo once')
  })
})

async function waitUntil(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
