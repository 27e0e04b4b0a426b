// What a geo of several nodes needs from its Redis to replicate (issue 10, part 4), on a real
// redis-server: the follower through which a node learns what the others store, and the
// lease that picks the one node that replicates.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import {
  HybridLogicalClock,
  systemClock,
  type EventDraft,
  type EventFollower,
  type EventFollowing,
  type EventRecord,
  type EventStore,
  type Fabric,
  type RoleLease,
  type VersionVector,
  Taps,
} from '../../../core/index.js'
import { LeasedFabric } from '../../../node/leased-fabric.js'
import { STORE_FOLLOWER_DEFAULTS, StoreFollower } from '../../../node/store-follower.js'
import { silentLogger } from '../../../core/logger.js'
import { poll } from '../../support/multi-geo.js'
import {
  requireRedisServer,
  startRedisServer,
  uniquePrefix,
  type RedisServer,
} from '../../support/redis-server.js'
import { deleteKeys, openRedisStore, storeComponents } from './helpers.js'
import { CHANGES_KEPT } from '../../../stores/redis/scripts.js'

type SharedStore = EventStore & EventFollowing & RoleLease

describe('redis store: what a geo of several nodes replicates through', function () {
  this.timeout(60_000)
  let redis: RedisServer | undefined
  let prefix = ''
  const stores: EventStore[] = []
  const stoppables: { stop(): Promise<void> }[] = []
  const hlc = new HybridLogicalClock(systemClock())

  before(requireRedisServer)
  before(async () => {
    redis = await startRedisServer({ appendfsync: 'always' })
  })
  after(async () => {
    await redis?.stop()
  })
  afterEach(async () => {
    await Promise.allSettled(stoppables.splice(0).map((s) => s.stop()))
    await Promise.allSettled(stores.splice(0).map((store) => store.stop()))
    await deleteKeys(redis!.url, prefix)
  })

  async function node(id: string): Promise<SharedStore> {
    const store = (await openRedisStore(
      { url: redis!.url, prefix },
      storeComponents(id),
    )) as SharedStore
    stores.push(store)
    return store
  }

  function draft(origin: string, n: number): EventDraft {
    return {
      actorType: 'counter',
      actorId: `x${n % 3}`,
      origin,
      hlc: hlc.now(),
      type: 'incremented',
      payload: { by: n },
    }
  }

  function follow(store: SharedStore, own: string, seen: EventRecord[]): StoreFollower {
    const follower = new StoreFollower(store, own, (events) => seen.push(...events), {
      clock: systemClock(),
      logger: silentLogger(),
    })
    stoppables.push(follower)
    return follower
  }

  it('hands a node every event the others store after it starts, once each, in seq order per origin, across a Redis restart', async () => {
    prefix = uniquePrefix('follow')
    const a = await node('a')
    const b = await node('b')
    await b.append([draft('b', 0)]) // before the follower starts: what a load reads
    const seen: EventRecord[] = []
    await follow(a, 'a', seen).start()
    for (let n = 1; n <= 20; n++) await b.append([draft('b', n)])
    await a.append([draft('a', 0)]) // its own: never handed on
    // An origin that appears after the start (a new node, or a replicated geo's events).
    await b.ingest([{ ...draft('c', 0), seq: 1 }])
    await poll('the follower to hand on 21 events', () => seen.length === 21)
    assert.deepEqual(
      seen.map((e) => `${e.origin}:${e.seq}`),
      [...Array.from({ length: 20 }, (_, i) => `b:${i + 2}`), 'c:1'],
    )
    // Redis goes away and comes back: the follower picks up where it was, losing nothing.
    await redis!.kill('SIGKILL')
    await redis!.restart()
    await poll('the store to take appends again', async () => {
      try {
        await b.append([draft('b', 21)])
        return true
      } catch {
        return false
      }
    })
    await poll('the follower to hand on the append after the restart', () => seen.length === 22)
    assert.equal(`${seen[21]!.origin}:${seen[21]!.seq}`, 'b:22')
  })

  it('gives the replicator lease to one node at a time, and to another once the holder stops', async () => {
    prefix = uniquePrefix('lease')
    const running = new Set<string>()
    const fabricOf = (name: string): Fabric => ({
      peerId: 'geo',
      listenAddresses: () => [],
      status: () => ({ peerId: 'geo', listen: [], peers: [] }),
      start: async () => void running.add(name),
      stop: async () => void running.delete(name),
    })
    let tries = 0
    const leased = await Promise.all(
      ['n1', 'n2', 'n3'].map(async (name) => {
        const store = await node(name)
        const lease: RoleLease = {
          holdLease: (...args) => (tries++, store.holdLease(...args)),
          releaseLease: (...args) => store.releaseLease(...args),
        }
        const fabric = new LeasedFabric(
          {
            nodeId: name,
            peerId: 'geo',
            lease,
            create: () => fabricOf(name),
            clock: systemClock(),
            logger: silentLogger(),
            taps: new Taps(),
          },
          // A ttl far longer than the hand-over is given: a stop must release, not expire.
          { ttlMs: 30_000, renewMs: 100 },
        )
        stoppables.push(fabric)
        return [name, fabric] as const
      }),
    )
    for (const [, fabric] of leased) await fabric.start()
    assert.equal(running.size, 1, `one fabric runs: ${[...running].join(',')}`)
    const [first] = [...running]
    // Renewals keep it where it is: three more rounds of every node trying.
    const after = tries + 9
    await poll('three more rounds of tries', () => tries >= after)
    assert.deepEqual([...running], [first])
    await leased.find(([name]) => name === first)![1].stop()
    await poll(
      'another node to take the lease, long before it would expire',
      () => running.size === 1 && !running.has(first!),
      10_000,
    )
    assert.equal(leased.filter(([, f]) => f.replicating).length, 1)
  })

  it('fails the start of a node whose fabric cannot start, and leaves the lease to the others', async () => {
    prefix = uniquePrefix('lease-fails')
    const store = await node('n1')
    const fabric = new LeasedFabric(
      {
        nodeId: 'n1',
        peerId: 'geo',
        lease: store,
        create: () => ({
          peerId: 'geo',
          listenAddresses: () => [],
          status: () => ({ peerId: 'geo', listen: [], peers: [] }),
          start: () => Promise.reject(new Error('listen address in use')),
          stop: async () => undefined,
        }),
        clock: systemClock(),
        logger: silentLogger(),
        taps: new Taps(),
      },
      { ttlMs: 30_000, renewMs: 100 },
    )
    stoppables.push(fabric)
    await assert.rejects(fabric.start(), /listen address in use/)
    assert.equal(await (await node('n2')).holdLease('replicator', 'n2', 30_000), true)
  })

  it('waits, rather than spins, while there is no other origin to follow', async () => {
    prefix = uniquePrefix('follow-empty')
    const a = await node('a')
    const b = await node('b')
    let reads = 0
    const counted: SharedStore = Object.assign(Object.create(a) as SharedStore, {
      followEvents: () => {
        const follower = a.followEvents()
        return {
          position: () => follower.position(),
          changes: (from: string, waitMs: number) => (reads++, follower.changes(from, waitMs)),
          check: (from: string) => (reads++, follower.check(from)),
          read: (after: VersionVector, limit: number) => (reads++, follower.read(after, limit)),
          close: () => follower.close(),
        }
      },
    })
    const seen: EventRecord[] = []
    await follow(counted, 'a', seen).start()
    // The first event of the first other origin, named by the store's record of writes.
    await b.append([draft('b', 1)])
    await poll('the follower to hand on the first other origin', () => seen.length === 1)
    assert.ok(reads < 20, `${reads} reads of the store while there was nothing to follow`)
  })

  /** A store whose followers are wrapped by `wrap` (to count or drop what they report). */
  function wrapped(
    store: SharedStore,
    wrap: (follower: EventFollower) => EventFollower,
  ): SharedStore {
    return Object.assign(Object.create(store) as SharedStore, {
      followEvents: () => wrap(store.followEvents()),
    })
  }

  it('reads only the origins a write moved, whatever the number of origins the store holds', async () => {
    prefix = uniquePrefix('follow-many')
    const a = await node('a')
    const b = await node('b')
    const ORIGINS = 3_000
    // Origins of restarted nodes and other geos: one event each, stored before the follower starts.
    await b.ingest(Array.from({ length: ORIGINS }, (_, i) => ({ ...draft(`old-${i}`, i), seq: 1 })))
    const named: number[] = []
    let vectorReads = 0
    const counted = wrapped(
      Object.assign(Object.create(a) as SharedStore, {
        versionVector: () => (vectorReads++, a.versionVector()),
      }),
      (follower) => ({
        position: () => follower.position(),
        changes: (from, waitMs) => follower.changes(from, waitMs),
        check: (from) => follower.check(from),
        read: (after, limit) => (
          named.push(Object.keys(after).length),
          follower.read(after, limit)
        ),
        close: () => follower.close(),
      }),
    )
    const seen: EventRecord[] = []
    await follow(counted, 'a', seen).start()
    for (let n = 1; n <= 10; n++) await b.append([draft('b', n)])
    // A late event of an old origin (a geo that was cut off) is followed too.
    await b.ingest([{ ...draft('old-7', 0), seq: 2 }])
    await poll('the follower to hand on 11 events', () => seen.length === 11)
    assert.deepEqual(
      seen.map((e) => `${e.origin}:${e.seq}`).sort(),
      [...Array.from({ length: 10 }, (_, i) => `b:${i + 1}`), 'old-7:2'].sort(),
    )
    assert.ok(
      Math.max(...named) <= 2,
      `reads named ${Math.max(...named)} origins at most: ${named.join(',')}`,
    )
    // The vector (3,000 fields) is read at the start, then only when the record of writes
    // lost something, or every verifyMs (30 s).
    assert.equal(vectorReads, 1, `${vectorReads} reads of the vector`)
  })

  it('finds what the record of writes does not hold by comparing the vector, now and then', async () => {
    prefix = uniquePrefix('follow-verify')
    const a = await node('a')
    const b = await node('b')
    // A record that names no write (trimmed, or written by a node that keeps none).
    const blind = wrapped(a, (follower) => ({
      position: () => follower.position(),
      changes: async (from, waitMs) => {
        await follower.changes(from, waitMs)
        return { position: from, written: {} }
      },
      check: (from) => follower.check(from),
      read: (after, limit) => follower.read(after, limit),
      close: () => follower.close(),
    }))
    const seen: EventRecord[] = []
    const follower = new StoreFollower(
      blind,
      'a',
      (events) => seen.push(...events),
      { clock: systemClock(), logger: silentLogger() },
      { ...STORE_FOLLOWER_DEFAULTS, verifyMs: 300 },
    )
    stoppables.push(follower)
    await follower.start()
    for (let n = 1; n <= 5; n++) await b.append([draft('b', n)])
    await poll('the follower to hand on 5 events found in the vector', () => seen.length === 5)
    assert.deepEqual(
      seen.map((e) => `${e.origin}:${e.seq}`),
      ['b:1', 'b:2', 'b:3', 'b:4', 'b:5'],
    )
  })

  it('says when its record of writes was trimmed past where a follower reads, or went back', async () => {
    prefix = uniquePrefix('follow-check')
    const a = await node('a')
    const b = await node('b')
    const follower = a.followEvents()
    stoppables.push({ stop: () => follower.close() })
    await b.append([draft('b', 1)])
    const early = await follower.position()
    for (let n = 2; n <= 4; n++) await b.append([draft('b', n)])
    const last = await follower.position()
    assert.deepEqual(await follower.check(early), { intact: true, position: last })
    const raw = new Redis(redis!.url)
    try {
      // Trimmed past `early` (what MAXLEN ~ does once the record is long): not intact.
      await raw.xtrim(`${prefix}changes`, 'MAXLEN', 1)
      assert.deepEqual(await follower.check(early), { intact: false, position: last })
      assert.deepEqual(await follower.check(last), { intact: true, position: last })
      // Gone back (Redis restarted without its data): not intact, and where it ends now.
      await raw.del(`${prefix}changes`)
      assert.deepEqual(await follower.check(last), { intact: false, position: '0-0' })
    } finally {
      raw.disconnect()
    }
  })

  it('finds the writes trimmed from the record while it lagged behind, at its next read, not at the next vector comparison', async () => {
    prefix = uniquePrefix('follow-lag')
    const a = await node('a')
    const b = await node('b')
    // A follower that falls behind (a slow node): its reads of the record wait while `held`.
    let held = false
    let parked = false
    let resume: () => void = () => {}
    const lagging = wrapped(a, (follower) => ({
      position: () => follower.position(),
      changes: async (from, waitMs) => {
        if (held) {
          parked = true
          await new Promise<void>((resolve) => (resume = resolve))
        }
        return follower.changes(from, waitMs)
      },
      check: (from) => follower.check(from),
      read: (after, limit) => follower.read(after, limit),
      close: () => follower.close(),
    }))
    const seen: EventRecord[] = []
    const follower = new StoreFollower(
      lagging,
      'a',
      (events) => seen.push(...events),
      { clock: systemClock(), logger: silentLogger() },
      // The vector comparison far off: only the record (and its check) can find c:1 in time.
      { ...STORE_FOLLOWER_DEFAULTS, checkMs: 200, verifyMs: 600_000 },
    )
    stoppables.push(follower)
    await follower.start()
    await b.append([draft('b', 0)])
    await poll('the first event', () => seen.length === 1)
    held = true
    await poll('the follower to wait behind', () => parked)
    // One write of origin c, then more writes than the record keeps: c's entry is trimmed.
    await b.ingest([{ ...draft('c', 0), seq: 1 }])
    for (let from = 0; from < CHANGES_KEPT + 500; from += 250)
      await Promise.all(
        Array.from({ length: 250 }, (_, i) => b.ingest([{ ...draft(`d${from + i}`, i), seq: 1 }])),
      )
    const raw = new Redis(redis!.url)
    try {
      const [[firstId]] = (await raw.xrange(`${prefix}changes`, '-', '+', 'COUNT', 1)) as [
        [string, string[]],
      ]
      const cEntries = (await raw.xrange(`${prefix}changes`, '-', '+')).filter(([, fields]) =>
        fields.includes('c'),
      )
      assert.equal(cEntries.length, 0, `c's entry still in the record (it starts at ${firstId})`)
    } finally {
      raw.disconnect()
    }
    held = false
    resume()
    await poll(
      'the follower to hand on c:1, trimmed from the record while it lagged',
      () => seen.some((e) => e.origin === 'c'),
      20_000,
    )
  })

  it('passes over an entry of the record it cannot read, and follows on at once', async () => {
    prefix = uniquePrefix('follow-bad-entry')
    const a = await node('a')
    const b = await node('b')
    const seen: EventRecord[] = []
    await follow(a, 'a', seen).start()
    const raw = new Redis(redis!.url)
    try {
      await raw.xadd(`${prefix}changes`, '*', 'b', 'not a seq')
    } finally {
      raw.disconnect()
    }
    await b.append([draft('b', 1)])
    // Well before the vector comparison (every 30 s) would find it.
    await poll(
      'the follower to hand on the event after the bad entry',
      () => seen.length === 1,
      10_000,
    )
    assert.equal(`${seen[0]!.origin}:${seen[0]!.seq}`, 'b:1')
  })

  it('stops at once while it waits to retry a store that fails', async () => {
    prefix = uniquePrefix('follow-stop')
    const a = await node('a')
    let calls = 0
    const failing = wrapped(a, (follower) => ({
      position: () => follower.position(),
      changes: () => (calls++, Promise.reject(new Error('redis is gone'))),
      check: () => Promise.reject(new Error('redis is gone')),
      read: (after, limit) => follower.read(after, limit),
      close: () => follower.close(),
    }))
    const follower = new StoreFollower(
      failing,
      'a',
      () => {},
      { clock: systemClock(), logger: silentLogger() },
      // A long backoff: the stop must not wait for it.
      { ...STORE_FOLLOWER_DEFAULTS, retryMs: 60_000 },
    )
    stoppables.push(follower)
    await follower.start()
    await poll('the first failed read', () => calls >= 1)
    const started = Date.now()
    await follower.stop()
    assert.ok(Date.now() - started < 2_000, `stop took ${Date.now() - started} ms`)
  })

  it('follows a store that lost what it read (Redis restarted without its data), and says so', async () => {
    prefix = uniquePrefix('follow-lost')
    const a = await node('a')
    const b = await node('b')
    const seen: EventRecord[] = []
    const warnings: string[] = []
    const logger = { ...silentLogger(), warn: (message: string) => void warnings.push(message) }
    const follower = new StoreFollower(
      a,
      'a',
      (events) => seen.push(...events),
      { clock: systemClock(), logger },
      { ...STORE_FOLLOWER_DEFAULTS, checkMs: 200 },
    )
    stoppables.push(follower)
    await follower.start()
    for (let n = 1; n <= 3; n++) await b.append([draft('b', n)])
    await poll('the first three events', () => seen.length === 3)
    // Every key of the geo gone, as from a Redis restarted without persistence: the next
    // write reuses seq 1, below what the follower read.
    await deleteKeys(redis!.url, prefix)
    await b.append([draft('b', 101)])
    await poll('the follower to see the store went back', () =>
      warnings.some((w) => /holds fewer events than this node read/.test(w)),
    )
    // From there it follows the store as it is (the seqs written again included).
    const before = seen.length
    for (let n = 102; n <= 104; n++) await b.append([draft('b', n)])
    await poll('the writes after the loss', () =>
      seen.slice(before).some((e) => (e.payload as { by: number }).by === 104),
    )
    assert.deepEqual(
      seen.slice(before).map((e) => `${e.origin}:${e.seq}:${(e.payload as { by: number }).by}`),
      ['b:2:102', 'b:3:103', 'b:4:104'],
    )
  })
})
