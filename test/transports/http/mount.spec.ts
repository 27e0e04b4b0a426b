// The gateway switched off, and its routes mounted into an app that has its own Fastify server.
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { createNode } from '../../../node/index.js'
import { anywhereRoutes } from '../../../transports/http/index.js'

describe('HTTP gateway: off, or mounted into an existing Fastify app', function () {
  this.timeout(20_000)

  it('a node with http.enabled false listens nowhere, and its routes serve under a prefix of the app', async () => {
    const node = await createNode({
      store: { kind: 'memory' },
      http: { enabled: false },
      log: { level: 'silent' },
    })
    const app = Fastify()
    app.get('/', async () => ({ app: 'mine' }))
    try {
      await node.start()
      assert.equal(node.gateway, undefined)
      await app.register(
        anywhereRoutes(node.config.http, {
          runtime: node.runtime,
          taps: node.taps,
          logger: node.logger,
          geo: node.config.geo,
          nodeId: node.nodeId,
        }),
        { prefix: '/anywhere' },
      )
      const base = await app.listen({ host: '127.0.0.1', port: 0 })
      const reply = await fetch(`${base}/anywhere/v1/actors/counter/c/increment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"by":2}',
      })
      assert.equal(reply.status, 200)
      assert.deepEqual(await reply.json(), { value: 2 })
      assert.equal(reply.headers.get('x-anywhere-geo'), 'local')
      assert.deepEqual(
        await (await fetch(`${base}/`)).json(),
        { app: 'mine' },
        'the app keeps its routes',
      )
      const bad = await fetch(`${base}/anywhere/v1/actors/counter/c/increment`, {
        method: 'POST',
        body: '{"by":"x"}',
      })
      assert.equal(bad.status, 400)
      assert.equal(((await bad.json()) as { error: string }).error, 'ValidationError')
      const unknown = await fetch(`${base}/anywhere/v1/actors/counter/c/nothing`, {
        method: 'POST',
      })
      assert.equal(unknown.status, 404)
    } finally {
      await app.close()
      await node.stop()
    }
  })
})
