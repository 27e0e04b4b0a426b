// The owner lease of a node alone on its prefix (no --members), at the store, on a real
// Redis: the Redis-side fence refuses an append once another node took the prefix, whatever
// the node's timers believe; a Redis that lost its data is taken again; a lease that expired
// with nobody taking it is renewed; a geo of several nodes and a single node never share a prefix.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import {
  HybridLogicalClock,
  silentLogger,
  StoreLeaseLostError,
  StoreLockedError,
  StoreUnavailableError,
  systemClock,
  Taps,
  type EventDraft,
  type EventStore,
} from '../../../core/index.js'
import {
  copyPrefix,
  parseRedisStoreInit,
  RedisMembership,
  redisStore,
  type RedisStoreInit,
} from '../../../stores/redis/index.js'
import { RedisKeys } from '../../../stores/redis/keys.js'
import {
  hasRedisServer,
  requireRedis,
  startRedisServer,
  testRedis,
  uniquePrefix,
} from '../../support/redis-server.js'
import { poll } from '../../support/multi-geo.js'
import { deleteKeys, openRedisStore, storeComponents } from './helpers.js'

/** How long a condition that depends on a renewal timer may take on a loaded machine. */
const DEADLINE_MS = 20_000

describe('redis store: the owner lease of a node alone on its prefix', function () {
  this.timeout(60_000)
  let redis: { url: string; stop(): Promise<void> } | undefined
  let admin: Redis | undefined
  let prefix = ''
  const stores: EventStore[] = []
  const hlc = new HybridLogicalClock(systemClock())

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    await admin.connect()
  })
  after(async () => {
    admin?.disconnect()
    await redis?.stop()
  })
  beforeEach(() => {
    prefix = uniquePrefix('owner-lease')
  })
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.stop()))
    await deleteKeys(redis!.url, prefix)
  })

  async function soleNode(id: string, init: Partial<RedisStoreInit> = {}): Promise<EventStore> {
    const store = redisStore({ url: redis!.url, prefix, ...init } as RedisStoreInit, {
      soleNode: true,
    })(storeComponents(id))
    stores.push(store)
    await store.start()
    return store
  }

  function draft(origin: string): EventDraft {
    return {
      actorType: 'counter',
      actorId: 'x',
      origin,
      hlc: hlc.now(),
      type: 'incremented',
      payload: { by: 1 },
    }
  }

  it('refuses a second node at start and lets it in once the first stops cleanly', async () => {
    const a = await soleNode('a')
    await assert.rejects(soleNode('b'), (error: unknown) => {
      assert.ok(error instanceof StoreLockedError, String(error))
      assert.match(error.message, /held by node a \(host .*, pid \d+, since /)
      return true
    })
    await a.stop()
    const b = await soleNode('b')
    await b.append([draft('b')])
  })

  it('refuses the append of a node whose prefix another node took, in Redis, before any renewal', async () => {
    // A lease far longer than the test: only the append's fence can see the takeover.
    const a = await soleNode('a', { ownerLeaseMs: 600_000 })
    await a.append([draft('a')])
    const keys = new RedisKeys(prefix)
    // What another node does when it takes the prefix after this one's lease expired.
    await admin!.set(keys.ownerToken(), 'another-node-token')
    await assert.rejects(a.append([draft('a'), draft('a')]), StoreLeaseLostError)
    assert.deepEqual(await admin!.hgetall(keys.vector()), { a: '1' }, 'nothing written')
    // From now on refused at once, even once the token would be this node's again.
    await admin!.del(keys.ownerToken())
    await assert.rejects(a.append([draft('a')]), StoreLeaseLostError)
    await assert.rejects(a.ingest([{ ...draft('z'), seq: 1 }]), StoreLeaseLostError)
    assert.deepEqual(await admin!.hgetall(keys.vector()), { a: '1' }, 'nothing written')
  })

  it('a renewal finds the takeover too, with no append to show it', async () => {
    const a = await soleNode('a', { ownerLeaseMs: 300 })
    await admin!.set(new RedisKeys(prefix).ownerToken(), 'another-node-token')
    await poll(
      'the renewal to find the lease lost',
      async () => {
        try {
          await a.append([draft('a')])
          return false
        } catch (error) {
          return error instanceof StoreLeaseLostError
        }
      },
      DEADLINE_MS,
    )
    assert.deepEqual(await admin!.hgetall(new RedisKeys(prefix).vector()), {})
  })

  it('a lease that expired with nobody taking the prefix is renewed: the node keeps writing', async () => {
    const a = await soleNode('a', { ownerLeaseMs: 600_000 })
    const keys = new RedisKeys(prefix)
    await admin!.del(keys.owner())
    await a.append([draft('a')])
    assert.deepEqual(await admin!.hgetall(keys.vector()), { a: '1' })
  })

  it('after Redis lost its data the append is refused as unavailable, the lease is taken again, and writes go on', async () => {
    const a = await soleNode('a', { ownerLeaseMs: 600_000 })
    await deleteKeys(redis!.url, prefix)
    await assert.rejects(a.append([draft('a')]), StoreUnavailableError)
    const keys = new RedisKeys(prefix)
    await poll(
      'the lease to be taken again',
      async () => (await admin!.exists(keys.owner())) === 1,
      DEADLINE_MS,
    )
    await a.append([draft('a')])
    assert.deepEqual(await admin!.hgetall(keys.vector()), { a: '1' })
  })

  it('refuses a single node on a prefix where a geo of several nodes runs', async () => {
    const keys = new RedisKeys(prefix)
    const [seconds] = await admin!.time()
    await admin!.zadd(keys.members(), (Number(seconds) + 60) * 1000, 'member-1')
    await assert.rejects(soleNode('a'), (error: unknown) => {
      assert.ok(error instanceof StoreLockedError, String(error))
      assert.match(
        error.message,
        /used by a geo of several nodes \(1 live member\): start this node with --members/,
      )
      return true
    })
    assert.equal(await admin!.exists(keys.owner()), 0)
  })

  it('refuses a geo member on a prefix a single node holds', async () => {
    await soleNode('a')
    const membership = new RedisMembership(
      parseRedisStoreInit({ url: redis!.url, prefix }),
      { timeoutMs: 10_000, heartbeatMs: 1_000 },
      { nodeId: 'm', url: 'tcp://127.0.0.1:1', startedAt: Date.now() },
      { clock: systemClock(), logger: silentLogger(), taps: new Taps() },
    )
    try {
      await assert.rejects(membership.start(), (error: unknown) => {
        assert.ok(error instanceof StoreLockedError, String(error))
        assert.match(error.message, /held by a node started without --members/)
        return true
      })
    } finally {
      await membership.stop()
    }
    const keys = new RedisKeys(prefix)
    assert.equal(await admin!.exists(keys.members()), 0, 'the member did not register')
    assert.equal(await admin!.exists(keys.geoSecret()), 0, 'nor made a geo secret')
  })

  it('redis-copy leaves the lease of a node killed on the source behind: a node starts on the copy at once', async function () {
    if (!hasRedisServer()) this.skip()
    const a = await soleNode('a')
    await a.append([draft('a')])
    // As after a kill -9 of the holder: its lease is still in the source.
    stores.splice(stores.indexOf(a), 1)
    const keys = new RedisKeys(prefix)
    const lease = await admin!.get(keys.owner())
    await a.stop()
    await admin!.set(keys.owner(), lease!, 'PX', 60_000)
    const target = await startRedisServer()
    try {
      await copyPrefix({ from: { url: redis!.url }, to: { url: target.url }, prefix })
      const b = await openRedisStore({ url: target.url, prefix }, storeComponents('b'))
      try {
        assert.deepEqual(await b.versionVector(), { a: 1 })
      } finally {
        await b.stop()
      }
      const onCopy = redisStore(
        { url: target.url, prefix },
        { soleNode: true },
      )(storeComponents('b'))
      await onCopy.start()
      await onCopy.stop()
    } finally {
      await target.stop()
    }
  })

  it('a store not told it is alone takes no lease (a geo of several nodes, the tools)', async () => {
    const a = await openRedisStore({ url: redis!.url, prefix }, storeComponents('a'))
    const b = await openRedisStore({ url: redis!.url, prefix }, storeComponents('b'))
    stores.push(a, b)
    await a.append([draft('a')])
    await b.append([draft('b')])
    assert.equal(await admin!.exists(new RedisKeys(prefix).owner()), 0)
  })
})
