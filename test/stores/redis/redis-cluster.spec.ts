// The Redis store on a real 3-master Redis Cluster: the store conformance suite, exact
// names, every key of a prefix in one slot, ASK and MOVED followed while a slot moves, and
// a dead master that stops only the geos on its slots.
import assert from 'node:assert/strict'
import {
  StoreUnavailableError,
  type EventFollowing,
  type EventStore,
  type RoleLease,
} from '../../../core/index.js'
import { RedisKeys } from '../../../stores/redis/keys.js'
import { eventStoreConformance } from '../../conformance/event-store.js'
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js'
import { requireRedisServer, uniquePrefix } from '../../support/redis-server.js'
import { deleteClusterKeys, draft, keysPerMaster, onNode } from './cluster-helpers.js'
import { assertNamesExact, openRedisStore, storeComponents } from './helpers.js'

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

  it('a geo of several nodes follows its store and leases its replicator on the cluster', async () => {
    const prefix = uniquePrefix('geo')
    const init = { cluster: cluster!.urls, prefix }
    const a = (await openRedisStore(init, storeComponents('node-a'))) as EventStore &
      EventFollowing &
      RoleLease
    const b = (await openRedisStore(init, storeComponents('node-b'))) as EventStore & RoleLease
    const follower = a.followEvents()
    try {
      const from = await follower.position()
      await b.append([{ ...draft('x', 1), origin: 'node-b' }])
      // The record of writes names the write (it is in the slot of every other key)...
      const { written } = await follower.changes(from, 500)
      assert.deepEqual(written, { 'node-b': 1 })
      // ...and the origin it moved is read from there.
      const events = await follower.read({ 'node-b': 0 }, 10)
      assert.deepEqual(
        events.map((e) => `${e.origin}:${e.seq}`),
        ['node-b:1'],
      )
      assert.equal(await a.holdLease('replicator', 'node-a', 5_000), true)
      assert.equal(await b.holdLease('replicator', 'node-b', 5_000), false)
      await a.releaseLease('replicator', 'node-a')
      assert.equal(await b.holdLease('replicator', 'node-b', 5_000), true)
    } finally {
      await follower.close()
      await a.stop()
      await b.stop()
      await deleteClusterKeys(cluster!, prefix)
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
        // vv, 3 origin streams, 4 actor indexes, 1 snapshot, the stream of writes.
        assert.equal(perMaster[index]!.length, 10, perMaster[index]!.map(String).join(', '))
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

  it('a hung master (SIGSTOP) fails its calls within the command timeout, and serves after SIGCONT', async () => {
    const prefix = uniquePrefix('hung')
    const master = await cluster!.masterOf(new RedisKeys(prefix, 'hash-tagged').vector())
    const store = await openRedisStore({ cluster: cluster!.urls, prefix, commandTimeoutMs: 500 })
    let stopped = false
    try {
      await store.append([draft('h', 1)])
      stopped = true
      process.kill(master.pid, 'SIGSTOP')
      const started = Date.now()
      const error = await store.append([draft('h', 2)]).then(
        () => assert.fail('appended on a hung master'),
        (e: unknown) => e,
      )
      const elapsed = Date.now() - started
      assert.ok(error instanceof StoreUnavailableError, String(error))
      assert.ok(elapsed < 3_000, `failing took ${elapsed} ms`)
      stopped = false
      process.kill(master.pid, 'SIGCONT')
      // The timed-out append may have run once Redis woke: seq 2 is held or not, never twice.
      await eventually(async () => assert.equal((await store.append([draft('h', 3)])).length, 1))
      const seqs = (await store.readActor('thing', 'h')).map((e) => e.seq)
      assert.ok(
        JSON.stringify(seqs) === '[1,2]' || JSON.stringify(seqs) === '[1,2,3]',
        `seqs ${JSON.stringify(seqs)}`,
      )
    } finally {
      if (stopped) process.kill(master.pid, 'SIGCONT')
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
})
