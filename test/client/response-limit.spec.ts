// anywhere-node/client against a hostile server (a real HTTP server on 127.0.0.1, port 0):
// an answer body past maxResponseBytes is refused with ResponseTooLargeError, the client stops
// reading it, and it is never retried.
import assert from 'node:assert/strict'
import { createServer, type Server, type ServerResponse } from 'node:http'
import {
  createClient,
  DEFAULT_MAX_RESPONSE_BYTES,
  ResponseTooLargeError,
  type ClientOptions,
} from '../../client/index.js'

/** Most bytes an endless answer writes before giving up by itself (a bound for the test). */
const ENDLESS_CAP_BYTES = 256 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'a')

/** Writes chunks until the client hangs up (or the cap); resolves with the bytes written. */
function endless(response: ServerResponse): Promise<number> {
  return new Promise((resolve) => {
    let written = 0
    let closed = false
    response.once('close', () => {
      closed = true
      resolve(written)
    })
    const pump = () => {
      while (!closed && written < ENDLESS_CAP_BYTES) {
        written += CHUNK.length
        if (!response.write(CHUNK)) return void response.once('drain', pump)
      }
      if (!closed) response.end()
    }
    pump()
  })
}

describe('anywhere-node/client: answer bodies are bounded (maxResponseBytes)', function () {
  this.timeout(30_000)
  let server: Server
  let url: string
  const requests = new Map<string, number>()
  const endlessDone: Array<Promise<number>> = []
  const json = JSON.stringify({ blob: 'x'.repeat(2_000) })

  before(async () => {
    server = createServer((request, response) => {
      const path = request.url ?? ''
      requests.set(path, (requests.get(path) ?? 0) + 1)
      if (path.startsWith('/v1/actors/declared/')) {
        response.writeHead(200, { 'content-length': '1000000000' })
        response.write('{"a":')
        return
      }
      if (path.startsWith('/v1/actors/endless/')) {
        response.writeHead(200, { 'content-type': 'application/json' })
        endlessDone.push(endless(response))
        return
      }
      if (path.startsWith('/v1/actors/busy/')) {
        response.writeHead(503, { 'content-type': 'application/json' })
        endlessDone.push(endless(response))
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(json)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const client = (options: ClientOptions = {}) =>
    createClient(url, { retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 5 }, ...options })

  it('a content-length over the bound is refused before the body is read', async () => {
    const error = await client({ maxResponseBytes: 1024 })
      .actor('declared', 'a')
      .read()
      .then(
        () => assert.fail('the call succeeded'),
        (thrown: unknown) => thrown,
      )
    assert.ok(error instanceof ResponseTooLargeError, String(error))
    assert.equal(error.status, 200)
    assert.equal(error.errorName, 'ResponseTooLargeError')
    assert.equal(error.limitBytes, 1024)
    assert.match(
      error.message,
      /larger than maxResponseBytes \(1024 bytes\): it declares 1000000000 bytes/,
    )
    assert.equal(requests.get('/v1/actors/declared/a'), 1, 'not retried')
  })

  it('an endless body is abandoned once past the bound: the client hangs up, memory stays bounded', async () => {
    const limit = 1024 * 1024
    const started = endlessDone.length
    const error = await client({ maxResponseBytes: limit })
      .actor('endless', 'e')
      .ask('go', {})
      .then(
        () => assert.fail('the call succeeded'),
        (thrown: unknown) => thrown,
      )
    assert.ok(error instanceof ResponseTooLargeError, String(error))
    assert.match(error.message, /bytes received so far; it was not read further/)
    // The server sees the connection close well before its own cap: the client stopped reading.
    const written = await Promise.race([
      endlessDone[started]!,
      new Promise<number>((_, reject) =>
        setTimeout(() => reject(new Error('the client never hung up')), 20_000),
      ),
    ])
    assert.ok(written < 64 * 1024 * 1024, `the server wrote ${written} bytes before the hang-up`)
    assert.equal(requests.get('/v1/actors/endless/e/go'), 1, 'not retried')
  })

  it('a 503 with an oversized body is not retried (it is not the gateway answering)', async () => {
    const error = await client({ maxResponseBytes: 64 * 1024 })
      .actor('busy', 'b')
      .read()
      .then(
        () => assert.fail('the call succeeded'),
        (thrown: unknown) => thrown,
      )
    assert.ok(error instanceof ResponseTooLargeError, String(error))
    assert.equal(error.status, 503)
    assert.equal(requests.get('/v1/actors/busy/b'), 1)
  })

  it('the bound is configurable per client and per call; the default reads a normal answer', async () => {
    const bytes = Buffer.byteLength(json)
    assert.deepEqual(await client().actor('plain', 'p').read(), JSON.parse(json))
    assert.ok(DEFAULT_MAX_RESPONSE_BYTES >= 1024 * 1024)
    const tight = client({ maxResponseBytes: bytes - 1 })
    await assert.rejects(tight.actor('plain', 'p').read(), ResponseTooLargeError)
    assert.deepEqual(
      await tight.actor('plain', 'p').read({ maxResponseBytes: bytes }),
      JSON.parse(json),
    )
  })

  it('refuses a bound that is not a positive integer', () => {
    for (const maxResponseBytes of [0, -1, 1.5, Number.NaN])
      assert.throws(
        () => createClient(url, { maxResponseBytes }),
        /maxResponseBytes must be a positive integer/,
      )
  })
})
