import assert from 'node:assert/strict'
import { silentLogger } from '../../../core/index.js'
import { createNode, type AnywhereNode, type NodeConfigInput } from '../../../node/index.js'
import { MAX_DASHBOARD_STREAMS } from '../../../transports/http/dashboard.js'
import { tokenDigest } from '../../../transports/http/index.js'

const ADMIN = 'admin-token-0123456789'

/** Reads server-sent events from `response` until `count` have arrived. */
async function firstEvents(
  response: Response,
  count: number,
): Promise<Array<{ event: string; data: unknown }>> {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  const events: Array<{ event: string; data: unknown }> = []
  let buffer = ''
  while (events.length < count) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event && data) events.push({ event, data: JSON.parse(data) as unknown })
    }
  }
  await reader.cancel()
  return events
}

describe('HTTP gateway: the dashboard page and its stream', function () {
  this.timeout(30_000)
  let node: AnywhereNode | undefined
  afterEach(async () => {
    await node?.stop()
    node = undefined
  })

  async function start(http: NodeConfigInput['http'] = {}): Promise<string> {
    node = await createNode(
      { geo: 'eu', store: { kind: 'memory' }, http: { port: 0, ...http } },
      { logger: silentLogger() },
    )
    await node.start()
    return node.gateway!.url
  }

  it('serves the page to anyone and the stream to the admin scope only, one snapshot a second', async () => {
    const base = await start({
      auth: { tokens: [{ name: 'ops', sha256: tokenDigest(ADMIN), scopes: ['admin'] }] },
    })
    const page = await fetch(`${base}/dashboard`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    assert.match(await page.text(), /<title>Anywhere dashboard<\/title>/)
    assert.equal((await fetch(`${base}/v1/dashboard/stream`)).status, 401)
    const started = Date.now()
    const stream = await fetch(`${base}/v1/dashboard/stream`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    })
    assert.equal(stream.status, 200)
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/)
    const [first, second] = await firstEvents(stream, 2)
    assert.equal(first?.event, 'snapshot')
    const snapshot = first!.data as {
      geo: string
      nodeId: string
      peers: unknown[]
      conflicts: unknown[]
    }
    assert.equal(snapshot.geo, 'eu')
    assert.equal(snapshot.nodeId, node!.nodeId)
    assert.deepEqual(snapshot.peers, [])
    assert.deepEqual(snapshot.conflicts, [])
    assert.equal(second?.event, 'snapshot')
    assert.ok(Date.now() - started >= 900, 'the second snapshot comes about a second later')
  })

  it(`refuses a stream past ${MAX_DASHBOARD_STREAMS} open ones with a JSON 503`, async () => {
    const base = await start()
    const controllers: AbortController[] = []
    try {
      for (let i = 0; i < MAX_DASHBOARD_STREAMS; i++) {
        const controller = new AbortController()
        controllers.push(controller)
        const reply = await fetch(`${base}/v1/dashboard/stream`, { signal: controller.signal })
        assert.equal(reply.status, 200)
      }
      const refused = await fetch(`${base}/v1/dashboard/stream`)
      assert.equal(refused.status, 503)
      assert.equal(((await refused.json()) as { error: string }).error, 'OverloadedError')
    } finally {
      for (const controller of controllers) controller.abort()
    }
  })
})
