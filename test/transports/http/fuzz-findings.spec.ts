// Regressions for what the gateway fuzzer (gateway-fuzz.spec.ts) found: each a raw request
// that must get a JSON 4xx answer, not a silent close.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type AnywhereNode } from '../../../node/node.js'
import { parseFirstResponse, rawExchange } from '../../support/raw-http.js'

describe('HTTP gateway: fuzzer findings', function () {
  this.timeout(30_000)
  let node: AnywhereNode | undefined
  let dir: string | undefined
  let port: number

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-fuzz-findings-'))
    node = await createNode({
      dataDir: dir,
      store: { kind: 'memory' },
      http: { port: 0 },
      log: { level: 'silent' },
    })
    await node.start()
    port = Number(new URL(node.gateway!.url).port)
  })

  after(async () => {
    await node?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function expectJson4xx(request: string, waitMs = 5_000): Promise<number> {
    const answer = await rawExchange(port, { chunks: [Buffer.from(request)], waitMs })
    const response = parseFirstResponse(answer.bytes)
    assert.ok(response, `no HTTP answer (closed: ${answer.closed}): '${answer.bytes.toString()}'`)
    assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`)
    assert.match(response.headers['content-type'] ?? '', /application\/json/)
    assert.equal(typeof (JSON.parse(response.body) as { error?: unknown }).error, 'string')
    return response.status
  }

  // Seeds 1-4 of the fuzzer: Node closes a CONNECT request's socket without a word.
  it('answers CONNECT with a JSON 405 instead of closing the socket', async () => {
    for (const target of ['127.0.0.1:443', '/healthz', 'evil.example:80'])
      assert.equal(
        await expectJson4xx(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
        405,
      )
  })

  it('still serves normal requests after a CONNECT', async () => {
    await expectJson4xx('CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n')
    const response = await fetch(`${node!.gateway!.url}/healthz`)
    assert.equal(response.status, 200)
  })

  it('answers an Upgrade request as a plain request (no silent close)', async () => {
    await expectJson4xx(
      'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      // The connection stays open (keep-alive): the answer is read after a short wait.
      1_000,
    )
  })
})
