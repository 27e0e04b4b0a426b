// The two key layouts of the Redis store: plain on one Redis (as every earlier version wrote),
// hash-tagged on a Redis Cluster; the refusals at start (a cluster node given as `url`, a
// prefix with events only under the other layout), and copyPrefix between the two.
import assert from 'node:assert/strict'
import { ConfigError } from '../../../core/index.js'
import { RedisKeys } from '../../../stores/redis/keys.js'
import { copyPrefix } from '../../../stores/redis/index.js'
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js'
import {
  requireRedisServer,
  startRedisServer,
  uniquePrefix,
  type RedisServer,
} from '../../support/redis-server.js'
import { deleteClusterKeys, draft, onNode, readAll } from './cluster-helpers.js'
import { assertNamesExact, deleteKeys, openRedisStore } from './helpers.js'

describe('redis store layouts on a 3-master Redis Cluster', function () {
  this.timeout(60_000)
  let cluster: RedisCluster | undefined

  before(requireRedisServer)
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  it('copyPrefix moves a geo from the cluster to one Redis, names and order exact', async () => {
    const prefix = uniquePrefix('copy')
    const redis = await startRedisServer()
    try {
      const onCluster = await openRedisStore({ cluster: cluster!.urls, prefix })
      let expected: unknown[]
      try {
        await assertNamesExact(onCluster)
        await onCluster.saveSnapshot({
          actorType: 'x:y',
          actorId: 'z',
          state: { n: 1 },
          at: { hlc: { wall: 1_000, logical: 0 }, origin: 'a', seq: 3 },
          eventCount: 1,
        })
        expected = await readAll(onCluster)
      } finally {
        await onCluster.stop()
      }
      const copied = await copyPrefix({
        from: { cluster: cluster!.urls },
        to: { url: redis.url },
        prefix,
      })
      assert.ok(copied >= 12, `copied ${copied} keys`)
      const onOne = await openRedisStore({ url: redis.url, prefix })
      try {
        assert.deepEqual(await readAll(onOne), expected)
        assert.ok(await onOne.loadSnapshot('x:y', 'z'), 'the snapshot came along')
      } finally {
        await onOne.stop()
      }
      await assert.rejects(
        copyPrefix({ from: { cluster: cluster!.urls }, to: { url: redis.url }, prefix }),
        (error: unknown) =>
          error instanceof ConfigError && /already holds events under prefix/.test(error.message),
      )
      await assert.rejects(
        copyPrefix({ from: { url: redis.url }, to: { cluster: cluster!.urls }, prefix: 'empty:' }),
        (error: unknown) => error instanceof ConfigError && /nothing to copy/.test(error.message),
      )
    } finally {
      await redis.stop()
      await deleteClusterKeys(cluster!, prefix)
    }
  })

  it('refuses a cluster node given as url, telling to use cluster', async () => {
    const error = await openRedisStore({ url: cluster!.urls[0]!, prefix: uniquePrefix() }).then(
      () => assert.fail('started on a cluster node as url'),
      (e: unknown) => e,
    )
    assert.ok(error instanceof ConfigError, String(error))
    assert.match(error.message, /Redis Cluster node; configure store\.cluster/)
  })

  it('refuses to start on a prefix whose events are under the one-Redis layout', async () => {
    const prefix = uniquePrefix('layout')
    const plain = new RedisKeys(prefix, 'plain').vector()
    const master = await cluster!.masterOf(plain)
    await onNode(master.url, 'HSET', plain, 'node-a', '7')
    try {
      const error = await openRedisStore({ cluster: cluster!.urls, prefix }).then(
        () => assert.fail('started empty beside events of the one-Redis layout'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof ConfigError, String(error))
      assert.match(
        error.message,
        /one-Redis key layout .*redis-copy --prefix .* --from-url <url> --to-cluster/,
      )
    } finally {
      await onNode(master.url, 'DEL', plain)
    }
  })
})

describe('redis store on one Redis: the key layout', function () {
  this.timeout(30_000)
  let redis: RedisServer | undefined

  before(requireRedisServer)
  before(async () => {
    redis = await startRedisServer()
  })
  after(async () => {
    await redis?.stop()
  })

  it('keeps the plain layout (data written before cluster support reads as it is)', async () => {
    const prefix = uniquePrefix('plain')
    const store = await openRedisStore({ url: redis!.url, prefix })
    try {
      await store.append([draft('p', 1)])
      assert.equal(await onNode(redis!.url, 'EXISTS', `${prefix}vv`), 1)
      assert.equal(await onNode(redis!.url, 'EXISTS', `${prefix}actor:5:thing:p`), 1)
      assert.equal(await onNode(redis!.url, 'EXISTS', `{${prefix}}vv`), 0)
    } finally {
      await store.stop()
      await deleteKeys(redis!.url, prefix)
    }
  })

  it('refuses to start on a prefix whose events are under the cluster layout', async () => {
    const prefix = uniquePrefix('tagged')
    await onNode(redis!.url, 'HSET', `{${prefix}}vv`, 'node-a', '3')
    try {
      const error = await openRedisStore({ url: redis!.url, prefix }).then(
        () => assert.fail('started empty beside events of the cluster layout'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof ConfigError, String(error))
      assert.match(error.message, /Redis Cluster key layout .*redis-copy .* --from-cluster/)
    } finally {
      await deleteKeys(redis!.url, `{${prefix}}`)
    }
  })
})
