// The Redis store on a real 3-master Redis Cluster: the store conformance suite, exact
// names, every key of a prefix in one slot, MOVED followed after a slot moves, and the
// refusals at start (a cluster node given as `url`, data under the other key layout).
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import {
  ConfigError,
  StoreUnavailableError,
  type EventDraft,
  type EventStore,
} from '../../../core/index.js'
import { RedisKeys } from '../../../stores/redis/keys.js'
import { copyPrefix } from '../../../stores/redis/index.js'
import { eventStoreConformance } from '../../conformance/event-store.js'
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js'
import {
  requireRedisServer,
  startRedisServer,
  uniquePrefix,
  type RedisServer,
} from '../../support/redis-server.js'
import { assertNamesExact, deleteKeys, openRedisStore, storeComponents } from './helpers.js'

const draft = (actorId: string, wall: number): EventDraft => ({
  actorType: 'thing',
  actorId,
  origin: 'node-a',
  hlc: { wall, logical: 0 },
  type: 'changed',
  payload: { wall },
})

/** Removes a prefix's keys from every master (in the cluster layout they are all on one). */
async function deleteClusterKeys(cluster: RedisCluster, prefix: string): Promise<void> {
  await Promise.all(cluster.urls.map((url) => deleteKeys(url, `{${prefix}}`)))
}

/** Every key of the cluster, per master, read with SCAN on each master. */
async function keysPerMaster(cluster: RedisCluster, pattern: string): Promise<Buffer[][]> {
  return Promise.all(
    cluster.urls.map(async (url) => {
      const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
      try {
        const found: Buffer[] = []
        let cursor = '0'
        do {
          const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 500)
          cursor = next.toString()
          found.push(...keys)
        } while (cursor !== '0')
        return found
      } finally {
        client.disconnect()
      }
    }),
  )
}

/** One command on one node, on a connection of its own. */
async function onNode(url: string, ...args: Array<string | number | Buffer>): Promise<unknown> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {}) // a refused connection rejects the call below
  try {
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

/** Everything `assertNamesExact` wrote, read back: actor, origins and vector. */
async function readAll(store: EventStore): Promise<unknown[]> {
  const vector = await store.versionVector()
  const origins = await Promise.all(
    Object.keys(vector)
      .sort()
      .map((origin) => store.readOrigin(origin, 1, 100)),
  )
  return [vector, origins, await store.readActor('typ/é:1', 'id:\ud800:\u0000')]
}

/** Two prefixes whose slots are on different masters. */
async function prefixesOnTwoMasters(cluster: RedisCluster): Promise<[string, string]> {
  const first = uniquePrefix('first')
  const master = await cluster.masterOf(new RedisKeys(first, 'hash-tagged').vector())
  for (let i = 0; i < 100; i++) {
    const other = uniquePrefix(`other${i}`)
    if ((await cluster.masterOf(new RedisKeys(other, 'hash-tagged').vector())) !== master)
      return [first, other]
  }
  throw new Error('100 prefixes all on one master')
}

/** Retries `call` until it resolves, for at most `deadlineMs`. */
async function eventually(call: () => Promise<void>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    try {
      return await call()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describe('redis store on a 3-master Redis Cluster', function () {
  this.timeout(60_000)
  let cluster: RedisCluster | undefined

  before(requireRedisServer)
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  eventStoreConformance('redis store (cluster)', async () => {
    const prefix = uniquePrefix('conformance')
    const init = { cluster: cluster!.urls, prefix }
    let store: EventStore = await openRedisStore(init)
    return {
      store,
      reopen: async () => {
        await store.stop()
        store = await openRedisStore(init)
        return store
      },
      cleanup: async () => {
        await store.stop()
        await deleteClusterKeys(cluster!, prefix)
      },
    }
  })

  it('keeps merge order and names exact for any strings, on the cluster', async () => {
    const prefix = uniquePrefix('names ✓')
    const store = await openRedisStore(
      { cluster: cluster!.urls, prefix },
      storeComponents('node with spaces'),
    )
    try {
      await assertNamesExact(store)
    } finally {
      await store.stop()
      await deleteClusterKeys(cluster!, prefix)
    }
  })

  it('keeps every key of a prefix in one slot, and spreads prefixes over the masters', async () => {
    // Prefixes until each master serves at least one of them.
    const byMaster = new Map<string, string>()
    for (let i = 0; byMaster.size < cluster!.masters.length && i < 200; i++) {
      const prefix = uniquePrefix(`spread${i}`)
      const master = await cluster!.masterOf(new RedisKeys(prefix, 'hash-tagged').vector())
      if (!byMaster.has(master.url)) byMaster.set(master.url, prefix)
    }
    assert.equal(byMaster.size, cluster!.masters.length, 'some master serves none of 200 prefixes')
    const stores = await Promise.all(
      [...byMaster.values()].map((prefix) => openRedisStore({ cluster: cluster!.urls, prefix })),
    )
    try {
      await Promise.all(
        stores.map(async (store) => {
          await store.append([draft('a', 1), draft('b', 2), { ...draft('c', 3), origin: 'o2' }])
          await store.saveSnapshot({
            actorType: 'thing',
            actorId: 'a',
            state: { n: 1 },
            at: { hlc: { wall: 1, logical: 0 }, origin: 'node-a', seq: 1 },
            eventCount: 1,
          })
          await store.ingest([
            {
              actorType: 'thing',
              actorId: 'd',
              origin: 'remote',
              seq: 1,
              hlc: { wall: 4, logical: 0 },
              type: 'changed',
              payload: {},
            },
          ])
        }),
      )
      for (const [url, prefix] of byMaster) {
        const perMaster = await keysPerMaster(cluster!, `{${prefix}}*`)
        const index = cluster!.urls.indexOf(url)
        perMaster.forEach((keys, i) =>
          assert.equal(keys.length > 0, i === index, `keys of ${prefix} on master ${i}`),
        )
        // vv, 3 origin streams, 4 actor indexes, 1 snapshot.
        assert.equal(perMaster[index]!.length, 9, perMaster[index]!.map(String).join(', '))
        const slots = new Set(
          await Promise.all(perMaster[index]!.map((key) => onNode(url, 'CLUSTER', 'KEYSLOT', key))),
        )
        assert.equal(slots.size, 1, `one slot for every key of ${prefix}`)
      }
    } finally {
      await Promise.all(stores.map((store) => store.stop()))
      for (const prefix of byMaster.values()) await deleteClusterKeys(cluster!, prefix)
    }
  })

  it('follows ASK while its slot migrates and MOVED once it has moved, scripts loaded anew', async () => {
    const prefix = uniquePrefix('moved')
    const keys = new RedisKeys(prefix, 'hash-tagged')
    const store = await openRedisStore({ cluster: cluster!.urls, prefix })
    try {
      assert.deepEqual(
        (await store.append([draft('m', 1), draft('m', 2)])).map((e) => e.seq),
        [1, 2],
      )
      // Move the slot by hand, as redis-cli --cluster reshard does: IMPORTING on the
      // target, MIGRATING on the source, MIGRATE every key, then NODE on every master.
      const source = await cluster!.masterOf(keys.vector())
      const target = cluster!.masters.find((master) => master !== source)!
      const slot = Number(await onNode(source.url, 'CLUSTER', 'KEYSLOT', keys.vector()))
      const [sourceId, targetId] = await Promise.all(
        [source, target].map(async (master) => String(await onNode(master.url, 'CLUSTER', 'MYID'))),
      )
      await onNode(target.url, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId!)
      await onNode(source.url, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId!)
      const held = (await onNode(source.url, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[]
      assert.ok(held.length >= 3, `the slot holds the store's keys: ${held.join(', ')}`)
      await onNode(source.url, 'MIGRATE', '127.0.0.1', target.port, '', 0, 5_000, 'KEYS', ...held)
      // Mid-migration, the keys gone from the source: it answers ASK, the client sends
      // ASKING and the script to the target, which has never run it (NOSCRIPT, then EVAL).
      assert.deepEqual(
        (await store.append([draft('m', 3)])).map((e) => e.seq),
        [3],
      )
      for (const master of cluster!.masters)
        await onNode(master.url, 'CLUSTER', 'SETSLOT', slot, 'NODE', targetId!)

      // The store's client still maps the slot to the source: MOVED, then the target.
      assert.deepEqual(
        (await store.append([draft('m', 4)])).map((e) => e.seq),
        [4],
      )
      assert.deepEqual(
        (await store.readActor('thing', 'm')).map((e) => e.seq),
        [1, 2, 3, 4],
      )
      assert.deepEqual(await store.versionVector(), { 'node-a': 4 })
      const perMaster = await keysPerMaster(cluster!, `{${prefix}}*`)
      assert.equal(perMaster[cluster!.masters.indexOf(source)]!.length, 0)
      assert.ok(perMaster[cluster!.masters.indexOf(target)]!.length >= 3)
    } finally {
      await store.stop()
      await deleteClusterKeys(cluster!, prefix)
    }
  })

  it('a dead master stops only the prefixes on its slots; they serve again once it is back', async () => {
    const [downPrefix, upPrefix] = await prefixesOnTwoMasters(cluster!)
    const down = await cluster!.masterOf(new RedisKeys(downPrefix, 'hash-tagged').vector())
    const downStore = await openRedisStore({ cluster: cluster!.urls, prefix: downPrefix })
    const upStore = await openRedisStore({ cluster: cluster!.urls, prefix: upPrefix })
    let killed = false
    try {
      await downStore.append([draft('x', 1)])
      killed = true
      await down.kill('SIGKILL')
      const started = Date.now()
      const error = await downStore.append([draft('x', 2)]).then(
        () => assert.fail('appended on a dead master'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof StoreUnavailableError, String(error))
      assert.ok(Date.now() - started < 3_000, `failing took ${Date.now() - started} ms`)
      // The other geo's prefix, on a live master, is not affected.
      assert.deepEqual(
        (await upStore.append([draft('y', 1), draft('y', 2)])).map((e) => e.seq),
        [1, 2],
      )
      // A store starts while that master is down, when its own slot is on a live one.
      const startedLater = await openRedisStore({ cluster: cluster!.urls, prefix: upPrefix })
      try {
        assert.equal((await startedLater.readActor('thing', 'y')).length, 2)
      } finally {
        await startedLater.stop()
      }
      killed = false
      await down.restart()
      await cluster!.waitUntilOk()
      // That master kept no data (no AOF here): the store starts over on it.
      await eventually(async () =>
        assert.equal((await downStore.append([draft('x', 3)])).length, 1),
      )
    } finally {
      await Promise.all([downStore.stop(), upStore.stop()])
      // The next tests need every master back, whatever failed above.
      if (killed) {
        await down.restart()
        await cluster!.waitUntilOk()
      }
      for (const prefix of [downPrefix, upPrefix]) await deleteClusterKeys(cluster!, prefix)
    }
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
