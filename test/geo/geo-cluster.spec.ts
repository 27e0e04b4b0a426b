// A geo of several nodes on a real 3-master Redis Cluster (issue 10): membership, the geo
// secret and the fencing epochs live in the slot of the geo's prefix, beside its events.
import assert from 'node:assert/strict'
import { Cluster } from 'ioredis'
import { fileURLToPath } from 'node:url'
import { assertExactCounter, assertFailoverAfterKill, post } from '../support/geo-load.js'
import { geoView, startGeoNodes, type GeoNodes } from '../support/geo-nodes.js'
import { requireRedisServer } from '../support/redis-server.js'

const CONFIG = fileURLToPath(new URL('fixtures/geo-node.config.ts', import.meta.url))
/** The fixture's `members.timeoutMs`. */
const MEMBERSHIP_TIMEOUT_MS = 3_000

describe('a geo of several nodes on a 3-master Redis Cluster', function () {
  this.timeout(600_000)
  let geo: GeoNodes | undefined

  before(requireRedisServer)
  before(async () => {
    geo = await startGeoNodes({ configFile: CONFIG, names: ['a', 'b', 'c'], cluster: true })
  })
  after(async () => {
    await geo?.stop()
  })

  const nodes = () => geo!.nodes.filter((n) => n.process.exitCode() === undefined)

  it('keeps the membership, the geo secret and the fencing epochs in the slot of the prefix', async () => {
    const views = await Promise.all(nodes().map((n) => geoView(n, 'counter/slot')))
    assert.equal(views[0]!.members.length, 3)
    assert.equal(new Set(views.map((v) => v.owner)).size, 1, JSON.stringify(views))
    assert.equal((await post(nodes()[0]!, '/v1/actors/counter/slot/increment', {})).status, 200)
    const root = `{${geo!.prefix}}`
    const cluster = new Cluster(
      geo!
        .cluster!.urls.map((url) => new URL(url))
        .map((u) => ({ host: u.hostname, port: Number(u.port) })),
    )
    try {
      assert.equal(await cluster.zcard(`${root}geo:members`), 3)
      assert.ok(await cluster.get(`${root}geo:secret`), 'the geo secret is kept under the hash tag')
      assert.ok(
        Number(await cluster.get(`${root}fence:7:counter:slot`)) >= 1,
        'the claim bumped the fence',
      )
      const slotOf = async (key: string) => Number(await cluster.cluster('KEYSLOT', key))
      assert.equal(await slotOf(`${root}geo:members`), await slotOf(`${root}vv`))
      assert.equal(
        await cluster.exists(`${geo!.prefix}geo:members`),
        0,
        'nothing under the plain layout',
      )
    } finally {
      cluster.disconnect()
    }
  })

  it('16 clients incrementing one counter through all three nodes: the value equals the acknowledged increments', async () => {
    await assertExactCounter(nodes(), 'hot16')
  })

  it('kill -9 of the owner of a hot actor under load: another node serves it within the timeout + 2 s, no acknowledged write lost, none applied twice', async () => {
    await assertFailoverAfterKill(geo!, nodes(), 'hot', MEMBERSHIP_TIMEOUT_MS)
  })
})
