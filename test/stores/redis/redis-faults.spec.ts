// The Redis store when Redis fails: killed, hung, restarted, or holding data the store
// did not write. Each test that kills Redis starts its own redis-server on a random port.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import {
  NotRunningError,
  StoreCorruptError,
  StoreUnavailableError,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type EventStoreComponents,
  type TapKind,
} from '../../../core/index.js'
import {
  requireRedis,
  requireRedisServer,
  startRedisServer,
  testRedis,
  uniquePrefix,
  type RedisServer,
} from '../../support/redis-server.js'
import { redisStore } from '../../../stores/redis/index.js'
import { deleteKeys, openRedisStore, storeComponents } from './helpers.js'

/** A failing call must reject within this bound (the store's command timeout is 1.5 s). */
const FAIL_FAST_BOUND_MS = 3_000
/** How long a test waits for the store to serve again after Redis is back. */
const RECOVERY_DEADLINE_MS = 10_000

const draft = (actorId: string, wall: number, payload: unknown = { wall }): EventDraft => ({
  actorType: 'thing',
  actorId,
  origin: 'node-a',
  hlc: { wall, logical: 0 },
  type: 'changed',
  payload,
})

/** Runs `call`, asserts it rejects with `type` within the bound; returns the error. */
async function rejectsFast<E extends Error>(
  what: string,
  call: () => Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  const started = Date.now()
  const error = await call().then(
    () => assert.fail(`${what} resolved; expected ${type.name}`),
    (e: unknown) => e,
  )
  const elapsed = Date.now() - started
  assert.ok(error instanceof type, `${what} rejected with ${String(error)}, not ${type.name}`)
  assert.ok(elapsed < FAIL_FAST_BOUND_MS, `${what} took ${elapsed} ms to fail`)
  return error
}

/** Retries `call` until it resolves or the deadline passes. */
async function eventually<T>(
  call: () => Promise<T>,
  deadlineMs = RECOVERY_DEADLINE_MS,
): Promise<T> {
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

function watchTaps(components: EventStoreComponents): TapKind[] {
  const kinds: TapKind[] = []
  components.taps.events$.subscribe((event) => kinds.push(event.kind))
  return kinds
}

describe('redis store faults: Redis down, hung, restarted', function () {
  this.timeout(30_000)
  let server: RedisServer | undefined
  let store: EventStore | undefined

  before(requireRedisServer)
  afterEach(async () => {
    await store?.stop()
    await server?.stop()
    store = undefined
    server = undefined
  })

  it('fails every call fast while redis-server is down, and serves again once it is back', async () => {
    server = await startRedisServer({ appendfsync: 'always' })
    const components = storeComponents()
    const taps = watchTaps(components)
    store = await openRedisStore({ url: server.url, prefix: uniquePrefix() }, components)
    const s = store
    const [first] = await s.append([draft('x', 10)])

    await server.kill('SIGKILL')
    const calls: [string, () => Promise<unknown>][] = [
      ['append', () => s.append([draft('x', 11)])],
      ['ingest', () => s.ingest([{ ...first!, origin: 'remote' }])],
      ['readActor', () => s.readActor('thing', 'x')],
      ['readOrigin', () => s.readOrigin('node-a', 1, 10)],
      ['versionVector', () => s.versionVector()],
      ['loadSnapshot', () => s.loadSnapshot('thing', 'x')],
      [
        'saveSnapshot',
        () =>
          s.saveSnapshot({
            actorType: 'thing',
            actorId: 'x',
            state: 1,
            at: first!,
            eventCount: 1,
          }),
      ],
    ]
    for (const [what, call] of calls) {
      const error = await rejectsFast(what, call, StoreUnavailableError)
      assert.ok(error.cause, `${what}: the error carries its cause`)
      assert.match(error.message, /retry later/)
      // In the store's words, not the client library's ("enableOfflineQueue options is false").
      assert.doesNotMatch(error.message, /enableOfflineQueue|writeable/, error.message)
    }
    assert.ok(taps.includes('store.unavailable'), 'store.unavailable was published')

    await server.restart()
    const [next] = await eventually(() => s.append([draft('x', 12)]))
    assert.equal(next!.seq, 2, 'seqs continue from the AOF after the restart')
    assert.deepEqual(
      (await s.readActor('thing', 'x')).map((e) => e.seq),
      [1, 2],
    )
    assert.ok(taps.includes('store.available'), 'store.available was published')
    assert.ok(taps.indexOf('store.available') > taps.indexOf('store.unavailable'))
  })

  it('fails calls within the command timeout while redis-server hangs (SIGSTOP)', async () => {
    server = await startRedisServer()
    store = await openRedisStore({ url: server.url, prefix: uniquePrefix(), commandTimeoutMs: 500 })
    const s = store
    await s.append([draft('x', 10)])
    process.kill(server.pid, 'SIGSTOP')
    try {
      await rejectsFast('append', () => s.append([draft('x', 11)]), StoreUnavailableError)
      await rejectsFast('readActor', () => s.readActor('thing', 'x'), StoreUnavailableError)
    } finally {
      process.kill(server.pid, 'SIGCONT')
    }
    // The timed-out append may still have run once Redis resumed: it was never acknowledged.
    const [next] = await eventually(() => s.append([draft('x', 12)]))
    assert.ok(next!.seq >= 2)
  })

  it('keeps every acknowledged append when redis-server (appendfsync always) is SIGKILLed under load', async () => {
    server = await startRedisServer({ appendfsync: 'always' })
    const prefix = uniquePrefix()
    store = await openRedisStore({ url: server.url, prefix })
    const s = store
    const acked: EventRecord[] = []
    let failed = 0
    let stopping = false
    const appender = async (worker: number) => {
      for (let i = 0; !stopping; i++) {
        try {
          const records = await s.append([draft(`w${worker}`, 1000 + i, { worker, i })])
          acked.push(...records)
        } catch (error) {
          assert.ok(error instanceof StoreUnavailableError, String(error))
          failed++
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      }
    }
    const workers = Array.from({ length: 16 }, (_, w) => appender(w))
    while (acked.length < 500) await new Promise((resolve) => setTimeout(resolve, 5))
    await server.kill('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 200))
    stopping = true
    await Promise.all(workers)
    assert.ok(failed > 0, 'appends failed while Redis was down')

    await server.restart()
    await store.stop()
    store = await openRedisStore({ url: server.url, prefix })
    const stored = await store.readOrigin('node-a', 1, 1_000_000)
    const bySeq = new Map(stored.map((e) => [e.seq, e]))
    for (const record of acked) assert.deepEqual(bySeq.get(record.seq), record)
    assert.deepEqual(
      stored.map((e) => e.seq),
      stored.map((_, i) => i + 1),
      'seqs are gap-free',
    )
    assert.deepEqual(await store.versionVector(), { 'node-a': stored.length })
    // At most the appends in flight at the kill (one per worker) were stored but not acknowledged.
    assert.ok(stored.length <= acked.length + 16, `${stored.length} stored, ${acked.length} acked`)
  })

  it('refuses to start when nothing listens, quickly and without leaving a socket behind', async () => {
    server = await startRedisServer()
    const url = server.url
    await server.kill('SIGKILL')
    const sockets = await tcpHandles()
    const unstarted = redisStore({ url })(storeComponents())
    await rejectsFast('start', () => unstarted.start(), StoreUnavailableError)
    await unstarted.stop()
    assert.equal(await tcpHandles(), sockets)
  })

  it('stop() closes the connection, is idempotent, and later calls fail with NotRunningError', async () => {
    server = await startRedisServer()
    const sockets = await tcpHandles()
    const s = await openRedisStore({ url: server.url, prefix: uniquePrefix() })
    assert.equal(await tcpHandles(), sockets + 1)
    const pending = s.append([draft('x', 10)])
    await s.stop()
    await s.stop()
    assert.equal((await pending)[0]!.seq, 1, 'an append sent before stop() completes')
    assert.equal(await tcpHandles(), sockets)
    await assert.rejects(s.readActor('thing', 'x'), NotRunningError)
    await assert.rejects(s.append([draft('x', 11)]), NotRunningError)
  })
})

describe('redis store faults: data it did not write', function () {
  this.timeout(30_000)
  let redis: { url: string; stop(): Promise<void> } | undefined
  let raw: Redis | undefined
  let store: EventStore | undefined
  let prefix = ''

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
    raw = new Redis(redis.url, { maxRetriesPerRequest: 0 })
  })
  after(async () => {
    raw?.disconnect()
    await redis?.stop()
  })
  beforeEach(async () => {
    prefix = uniquePrefix('corrupt')
    store = await openRedisStore({ url: redis!.url, prefix })
  })
  afterEach(async () => {
    await store?.stop()
    await deleteKeys(redis!.url, prefix)
  })

  it('a garbage member in an actor index fails readActor with StoreCorruptError, other actors still read', async () => {
    await store!.append([draft('x', 10), draft('y', 11)])
    await raw!.zadd(`${prefix}actor:5:thing:x`, 0, 'not an event at all')
    const error = await rejectsFast(
      'readActor',
      () => store!.readActor('thing', 'x'),
      StoreCorruptError,
    )
    assert.match(error.message, /actor:5:thing:x/)
    assert.equal((await store!.readActor('thing', 'y')).length, 1)
  })

  it('a garbage entry in an origin stream fails readOrigin, and append writes nothing', async () => {
    await store!.append([draft('x', 10)])
    await raw!.xadd(`${prefix}origin:node-a`, '2-0', 'e', Buffer.from([0xc1, 0xff, 0x00]))
    await rejectsFast('readOrigin', () => store!.readOrigin('node-a', 1, 10), StoreCorruptError)
    const error = await rejectsFast(
      'append',
      () => store!.append([draft('x', 11)]),
      StoreCorruptError,
    )
    assert.match(error.message, /ends at seq 2 but the version vector holds 1/)
    assert.equal(await raw!.zcard(`${prefix}actor:5:thing:x`), 1, 'the failed append wrote nothing')
  })

  it('a version vector that is not a hash, or holds a non-number, fails append atomically', async () => {
    await store!.append([draft('x', 10)])
    await raw!.hset(`${prefix}vv`, 'node-a', 'abc')
    await rejectsFast('append', () => store!.append([draft('x', 11)]), StoreCorruptError)
    await rejectsFast('versionVector', () => store!.versionVector(), StoreCorruptError)
    assert.equal(await raw!.xlen(`${prefix}origin:node-a`), 1)
    await raw!.del(`${prefix}vv`)
    await raw!.set(`${prefix}vv`, 'garbage')
    await rejectsFast('append', () => store!.append([draft('x', 12)]), StoreCorruptError)
    await rejectsFast('versionVector', () => store!.versionVector(), StoreCorruptError)
    assert.equal(await raw!.xlen(`${prefix}origin:node-a`), 1)
    assert.equal(await raw!.zcard(`${prefix}actor:5:thing:x`), 1)
  })

  it('a corrupt actor fails only its own append, not the others batched with it', async () => {
    await raw!.set(`${prefix}actor:5:thing:bad`, 'a string, not a sorted set')
    const results = await Promise.allSettled([
      store!.append([draft('a', 10)]),
      store!.append([draft('bad', 11)]),
      store!.append([draft('b', 12)]),
    ])
    assert.equal(results[0].status, 'fulfilled')
    assert.equal(results[2].status, 'fulfilled')
    assert.equal(results[1].status, 'rejected')
    assert.ok(results[1].status === 'rejected' && results[1].reason instanceof StoreCorruptError)
    assert.deepEqual(await store!.versionVector(), { 'node-a': 2 })
    assert.deepEqual((await store!.readOrigin('node-a', 1, 10)).map((e) => e.actorId).sort(), [
      'a',
      'b',
    ])
  })

  it('an append whose later draft hits a corrupt actor writes none of its drafts', async () => {
    await store!.append([draft('a', 9)])
    await raw!.set(`${prefix}actor:5:thing:bad`, 'a string, not a sorted set')
    const error = await rejectsFast(
      'append',
      () => store!.append([draft('a', 10), draft('b', 11), draft('bad', 12)]),
      StoreCorruptError,
    )
    assert.match(error.message, /actor:5:thing:bad is not the sorted set of an actor/)
    assert.equal(await raw!.zcard(`${prefix}actor:5:thing:a`), 1)
    assert.equal(await raw!.exists(`${prefix}actor:5:thing:b`), 0)
    assert.equal(await raw!.xlen(`${prefix}origin:node-a`), 1)
    assert.deepEqual(await store!.versionVector(), { 'node-a': 1 })
    const [next] = await store!.append([draft('a', 13)])
    assert.equal(next!.seq, 2)
  })

  it('a stream of writes that is not a stream fails appends and ingests whole: nothing written', async () => {
    await store!.append([draft('a', 9)])
    await raw!.set(`${prefix}changes`, 'a string, not a stream')
    const error = await rejectsFast(
      'append',
      () => store!.append([draft('a', 10)]),
      StoreCorruptError,
    )
    assert.match(error.message, /changes is not the stream of writes/)
    await rejectsFast(
      'ingest',
      () => store!.ingest([{ ...draft('r', 11), origin: 'remote', seq: 1 }]),
      StoreCorruptError,
    )
    assert.deepEqual(await store!.versionVector(), { 'node-a': 1 })
    assert.equal(await raw!.xlen(`${prefix}origin:node-a`), 1)
    assert.equal(await raw!.exists(`${prefix}origin:remote`), 0)
    assert.equal(await raw!.zcard(`${prefix}actor:5:thing:a`), 1)
    await raw!.del(`${prefix}changes`)
    const [next] = await store!.append([draft('a', 12)])
    assert.equal(next!.seq, 2)
  })

  it('a garbage snapshot fails loadSnapshot with StoreCorruptError', async () => {
    const [e1] = await store!.append([draft('s', 10)])
    await store!.saveSnapshot({
      actorType: 'thing',
      actorId: 's',
      state: { ok: 1 },
      at: e1!,
      eventCount: 1,
    })
    await raw!.hset(`${prefix}snapshot:5:thing:s`, 'state', 'garbage')
    await rejectsFast('loadSnapshot', () => store!.loadSnapshot('thing', 's'), StoreCorruptError)
    await raw!.del(`${prefix}snapshot:5:thing:s`)
    await raw!.set(`${prefix}snapshot:5:thing:s`, 'garbage')
    await rejectsFast('loadSnapshot', () => store!.loadSnapshot('thing', 's'), StoreCorruptError)
  })
})

/** Open TCP sockets of this process, once sockets closed just before have been released. */
async function tcpHandles(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 20))
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length
}
