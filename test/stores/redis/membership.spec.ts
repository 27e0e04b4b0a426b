// Membership of a geo of several nodes on a real Redis: a node that joins takes no actor until
// every other member has renewed since (and so has it in its view), or has dropped out.
import assert from 'node:assert/strict'
import { Taps, silentLogger, systemClock } from '../../../core/index.js'
import { RedisMembership } from '../../../stores/redis/membership.js'
import { REDIS_STORE_DEFAULTS, type RedisStoreSettings } from '../../../stores/redis/options.js'
import { poll } from '../../support/multi-geo.js'
import { requireRedis, testRedis, uniquePrefix } from '../../support/redis-server.js'

describe('RedisMembership', function () {
  this.timeout(60_000)
  let redis: { url: string; stop(): Promise<void> } | undefined
  const started: RedisMembership[] = []

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
  })
  afterEach(async () => {
    for (const member of started.splice(0)) await member.stop()
  })
  after(async () => {
    await redis?.stop()
  })

  const member = async (nodeId: string, prefix: string, heartbeatMs: number) => {
    const settings = { ...REDIS_STORE_DEFAULTS, url: redis!.url, prefix } as RedisStoreSettings
    const membership = new RedisMembership(
      settings,
      { timeoutMs: 10_000, heartbeatMs },
      { nodeId, url: `tcp://127.0.0.1:1`, startedAt: Date.now() },
      { clock: systemClock(), logger: silentLogger(), taps: new Taps() },
    )
    started.push(membership)
    await membership.start()
    return membership
  }

  it('a node that joins is seen by all once every other member has renewed since', async () => {
    const prefix = uniquePrefix('membership')
    const first = await member('a', prefix, 100)
    assert.equal(first.seenByAll, true, 'the first node has no one to wait for')
    const joined = await member('b', prefix, 100)
    assert.deepEqual(
      joined.members.map((m) => m.nodeId),
      ['a', 'b'],
    )
    // Its registration's reply holds a's last renewal, made before b was there.
    assert.equal(joined.seenByAll, false)
    await poll('a to renew, and b to see that it did', () => joined.seenByAll, 20_000, 20)
    assert.deepEqual(
      first.members.map((m) => m.nodeId),
      ['a', 'b'],
      'a has b in its view by then',
    )
  })

  it('a member that has left is not waited for', async () => {
    const prefix = uniquePrefix('membership')
    const gone = await member('a', prefix, 100)
    await gone.stop() // leaves: its registration is removed at once
    const joined = await member('b', prefix, 100)
    assert.equal(joined.seenByAll, true)
  })
})
