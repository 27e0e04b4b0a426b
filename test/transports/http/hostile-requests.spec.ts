// Requests a hostile or broken client sends: each must get a JSON 4xx quickly and change nothing.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type AnywhereNode } from '../../../node/node.js'

/** Sends raw bytes on one connection and resolves with everything the server answered (or after `ms`). */
function rawRequest(
  url: string,
  chunks: readonly string[],
  { gapMs = 0, waitMs = 5_000 }: { gapMs?: number; waitMs?: number } = {},
): Promise<{ text: string; closed: boolean; ms: number }> {
  const { hostname, port } = new URL(url)
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let text = ''
    let closed = false
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ text, closed, ms: Date.now() - started })
    }
    const timer = setTimeout(finish, waitMs)
    socket.on('data', (data) => (text += data.toString('latin1')))
    socket.on('end', () => {
      closed = true
      finish()
    })
    socket.on('error', (error) => (text ? finish() : reject(error)))
    socket.on('connect', () => {
      let i = 0
      const next = () => {
        if (i >= chunks.length || socket.destroyed) return
        socket.write(chunks[i++]!)
        if (gapMs > 0) setTimeout(next, gapMs)
        else next()
      }
      next()
    })
  })
}

function jsonBody(text: string): { status: number; body: { error?: unknown; message?: unknown } } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])
  const body = text.slice(text.indexOf('\r\n\r\n') + 4)
  // Chunked or not, the JSON object is the part between the outer braces.
  const json = body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)
  return { status, body: JSON.parse(json) as { error?: unknown; message?: unknown } }
}

describe('HTTP gateway: hostile requests', function () {
  this.timeout(30_000)
  let node: AnywhereNode
  let dir: string
  let base: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-hostile-'))
    node = await createNode({
      dataDir: dir,
      store: { kind: 'memory' },
      http: { port: 0, bodyLimitBytes: 64 * 1024, requestTimeoutMs: 1_000 },
      runtime: { askTimeoutMs: 2_000 },
      log: { level: 'silent' },
    })
    await node.start()
    base = node.gateway!.url
  })

  after(async () => {
    await node?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    })

  async function expectJsonError(response: Response, status: number, error?: string) {
    const text = await response.text()
    assert.equal(response.status, status, `status of ${text}`)
    assert.match(response.headers.get('content-type') ?? '', /application\/json/, text)
    const body = JSON.parse(text) as { error?: unknown }
    assert.equal(typeof body.error, 'string', text)
    if (error) assert.equal(body.error, error, text)
  }

  for (const command of ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty'])
    it(`answers a command named after Object.prototype.${command} with a quick 404`, async () => {
      const started = Date.now()
      await expectJsonError(
        await post(`/v1/actors/counter/c1/${encodeURIComponent(command)}`, '{}'),
        404,
        'UnknownCommandError',
      )
      assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`)
    })

  it('answers an actor type named after an Object.prototype member with a 404', async () => {
    await expectJsonError(await post('/v1/actors/constructor/c1/increment', '{}'), 404)
    await expectJsonError(await fetch(`${base}/v1/actors/toString/c1`), 404)
  })

  it('refuses JSON nested deeper than the limit with a quick 400, before the mailbox', async () => {
    const deep = '{"by":'.repeat(5_000) + '1' + '}'.repeat(5_000)
    const started = Date.now()
    await expectJsonError(
      await post('/v1/actors/counter/deep/increment', deep),
      400,
      'ValidationError',
    )
    assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`)
    const arrays = '['.repeat(3_000) + ']'.repeat(3_000)
    await expectJsonError(await post('/v1/actors/counter/deep/increment', arrays), 400)
  })

  it('answers a payload over the event limits with 400 or 413, not 500, and stores nothing', async () => {
    const nested = { by: 1, note: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) as unknown }
    const response = await post(
      '/v1/actors/map/m1/set',
      JSON.stringify({ key: 'k', value: nested }),
    )
    assert.ok(
      [400, 413].includes(response.status),
      `status ${response.status}: ${await response.text()}`,
    )
    const big = 'x'.repeat(70 * 1024)
    await expectJsonError(
      await post('/v1/actors/register/r1/set', JSON.stringify({ value: big })),
      413,
      'PayloadTooLargeError',
    )
    const state = await fetch(`${base}/v1/actors/map/m1`)
    assert.equal(state.headers.get('x-anywhere-event-count'), '0')
  })

  it('answers a request without Host with a JSON 400', async () => {
    const { text } = await rawRequest(base, ['GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'])
    const { status, body } = jsonBody(text)
    assert.equal(status, 400, text)
    assert.equal(typeof body.error, 'string', text)
  })

  it('answers a body with a malformed content-length with a JSON 400', async () => {
    const { text } = await rawRequest(base, [
      'POST /v1/actors/counter/c/increment HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}',
    ])
    const { status, body } = jsonBody(text)
    assert.equal(status, 400, text)
    assert.equal(typeof body.error, 'string', text)
  })

  it('answers HEAD on every route, the tap stream included', async () => {
    for (const path of ['/healthz', '/v1/actors', '/v1/actors/counter/h1', '/v1/taps']) {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), 3_000)
      try {
        const response = await fetch(`${base}${path}`, {
          method: 'HEAD',
          signal: controller.signal,
        })
        assert.equal(response.status, 200, path)
      } finally {
        clearTimeout(timer)
      }
    }
  })

  it('does not hold a slowly dripped body past the request timeout', async () => {
    const body = '{"by":1}'
    const head = `POST /v1/actors/counter/slow/increment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 1000}\r\n\r\n`
    const drip = [head, ...Array.from({ length: 40 }, () => ' ')]
    const { text, ms } = await rawRequest(base, drip, { gapMs: 200, waitMs: 10_000 })
    assert.ok(ms < 6_000, `the connection was held ${ms} ms`)
    if (text) assert.match(text, /^HTTP\/1\.1 408/, text)
  })

  it('accepts ids up to the documented 256 characters and refuses longer ones with a JSON 4xx', async () => {
    const id = 'i'.repeat(256)
    const ok = await post(`/v1/actors/counter/${id}/increment`, '{"by":1}')
    assert.equal(ok.status, 200, await ok.text())
    type Refusal = { error?: unknown; issues?: Array<{ path: string[]; code: string }> }
    const tooLong = await post(`/v1/actors/counter/${id}x/increment`, '{"by":1}')
    const refusal = (await tooLong.json()) as Refusal
    assert.equal(tooLong.status, 400, JSON.stringify(refusal))
    assert.equal(refusal.error, 'ValidationError')
    // The runtime's issue shape (path, message, code), not the schema validator's own.
    assert.deepEqual(refusal.issues?.[0]?.path, ['params', 'id'], JSON.stringify(refusal))
    // Far longer: refused by the router itself, in the same JSON.
    const wayTooLong = await post(`/v1/actors/counter/${'i'.repeat(2_000)}/increment`, '{}')
    const routerRefusal = (await wayTooLong.json()) as Refusal
    assert.equal(wayTooLong.status, 400, JSON.stringify(routerRefusal))
    assert.equal(routerRefusal.error, 'ValidationError')
    assert.deepEqual(routerRefusal.issues?.[0]?.path, ['url'])
    // A percent-encoding that is not UTF-8: refused by the router too, in the same JSON.
    const malformed = await post('/v1/actors/counter/%E0%A4%A/increment', '{}')
    const malformedRefusal = (await malformed.json()) as Refusal
    assert.equal(malformed.status, 400, JSON.stringify(malformedRefusal))
    assert.equal(malformedRefusal.error, 'ValidationError')
  })

  it('refuses a misspelt or unknown input key of a built-in command with a 400 naming it, and changes nothing', async () => {
    // Not stripped and run with the default: `{"amount":5}` would otherwise add 1.
    for (const body of ['{"amount":5}', '{"by":2,"extra":1}']) {
      const response = await post('/v1/actors/counter/typo/increment', body)
      const text = await response.text()
      assert.equal(response.status, 400, text)
      const refusal = JSON.parse(text) as { error?: unknown; message?: unknown }
      assert.equal(refusal.error, 'ValidationError', text)
      assert.match(String(refusal.message), /amount|extra/, text)
    }
    const state = await fetch(`${base}/v1/actors/counter/typo`)
    assert.deepEqual(await state.json(), { value: 0 })
  })

  it('answers an Idempotency-Key reused with a different body with 422, and runs nothing', async () => {
    const headers = { 'idempotency-key': 'pay-1' }
    const first = await post('/v1/actors/counter/idem/increment', '{"by":1}', headers)
    assert.equal(first.status, 200)
    await expectJsonError(
      await post('/v1/actors/counter/idem/increment', '{"by":5}', headers),
      422,
      'IdempotencyKeyReusedError',
    )
    const same = await post('/v1/actors/counter/idem/increment', '{ "by": 1 }', headers)
    assert.equal(same.status, 200, 'the same body (other spacing) is a retry')
    assert.equal(same.headers.get('idempotent-replayed'), 'true')
    const state = (await (await fetch(`${base}/v1/actors/counter/idem`)).json()) as unknown
    assert.deepEqual(state, { value: 1 })
  })

  it('answers a bad content-type, a bad method and an unknown route with JSON', async () => {
    await expectJsonError(
      await fetch(`${base}/v1/actors/counter/c1/increment`, { method: 'PUT' }),
      404,
    )
    await expectJsonError(await fetch(`${base}/nowhere`), 404)
    await expectJsonError(
      await post('/v1/actors/counter/c1/increment', 'not json', { 'content-type': 'text/plain' }),
      400,
    )
  })
})
