// Crash tests with real processes: an `anywhere-node` on the Redis store (appendfsync
// always) under a steady stream of increments, and first the node, then redis-server
// itself, is SIGKILLed. Every increment that got HTTP 200 must be in Redis afterwards;
// an increment that got no answer may or may not be there, but none is there twice.
// They run on one Redis and on a 3-master Redis Cluster, where the redis-server killed is
// the master that serves the prefix's slot.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EventStore } from '../../../core/index.js'
import { startNodeProcess, type NodeProcess } from '../../support/node-process.js'
import {
  requireRedisServer,
  startRedisServer,
  uniquePrefix,
  type RedisServer,
} from '../../support/redis-server.js'
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js'
import { RedisKeys } from '../../../stores/redis/keys.js'
import type { RedisStoreInit } from '../../../stores/redis/index.js'
import { openRedisStore } from './helpers.js'

/** Increments sent at the same time (each waits for its reply before sending the next). */
const CLIENTS = 6
/** A request gets no longer than this (the node's own bound is the store's 1.5 s timeout). */
const REQUEST_TIMEOUT_MS = 5_000
/** While Redis is down the node must answer 503 within this bound. */
const FAIL_FAST_BOUND_MS = 3_000
/** How long the node may take to serve again once Redis is back. */
const RECOVERY_DEADLINE_MS = 15_000

/** The increments the test has sent to one counter, by outcome. */
interface Tally {
  /** HTTP 200: the increment is durable. */
  acked: number
  /** No answer (connection cut) or a 5xx: it may or may not have been stored. */
  unknown: number
}

/** Sends increments of 1 from `CLIENTS` loops until `stop()`; counts what came back. */
function steadyIncrements(url: () => string, counterId: string) {
  const tally: Tally = { acked: 0, unknown: 0 }
  let running = true
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      try {
        const reply = await increment(url(), counterId)
        if (reply.status === 200) tally.acked++
        else {
          tally.unknown++
          await pause(20)
        }
      } catch {
        tally.unknown++
        await pause(20)
      }
    }
  })
  return {
    tally,
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}

async function increment(url: string, counterId: string): Promise<Response> {
  const reply = await fetch(`${url}/v1/actors/counter/${counterId}/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"by":1}',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  await reply.arrayBuffer()
  return reply
}

async function counterValue(url: string, counterId: string): Promise<number> {
  const reply = await fetch(`${url}/v1/actors/counter/${counterId}`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  assert.equal(reply.status, 200)
  return ((await reply.json()) as { value: number }).value
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  deadlineMs: number,
  context: () => string = () => '',
) {
  const deadline = Date.now() + deadlineMs
  while (!(await Promise.resolve(condition()).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms. ${context()}`)
    await pause(25)
  }
}

/** What Redis holds for one counter, read by a store of our own. */
async function storedIncrements(store: EventStore, counterId: string): Promise<number> {
  const events = await store.readActor('counter', counterId)
  const keys = new Set(events.map((e) => `${e.origin}:${e.seq}`))
  assert.equal(keys.size, events.length, 'no event is stored twice')
  return events.filter((e) => e.type === 'incremented').length
}

/** Where the crash tests' Redis runs: one redis-server, or the masters of a cluster. */
interface CrashTarget {
  name: string
  /** Starts redis-server(s) with appendfsync always. */
  start(): Promise<void>
  stop(): Promise<void>
  /** The node's flags that name this Redis. */
  nodeArgs(): string[]
  /** A store init for this Redis under `prefix`. */
  storeInit(prefix: string): RedisStoreInit
  /** The redis-server process that holds the keys of `prefix`. */
  serverOf(prefix: string): Promise<RedisServer>
  /** Resolves once Redis serves again after `serverOf(prefix).restart()`. */
  restarted(): Promise<void>
}

function oneRedis(): CrashTarget {
  let redis: RedisServer | undefined
  return {
    name: 'one Redis',
    async start() {
      redis = await startRedisServer({ appendfsync: 'always' })
    },
    async stop() {
      await redis?.stop()
      redis = undefined
    },
    nodeArgs: () => ['--redis-url', redis!.url],
    storeInit: (prefix) => ({ url: redis!.url, prefix }),
    serverOf: async () => redis!,
    restarted: async () => {},
  }
}

function threeMasterCluster(): CrashTarget {
  let cluster: RedisCluster | undefined
  return {
    name: 'a 3-master Redis Cluster',
    async start() {
      cluster = await startRedisCluster({ masters: 3, appendfsync: 'always' })
    },
    async stop() {
      await cluster?.stop()
      cluster = undefined
    },
    nodeArgs: () => ['--redis-cluster', cluster!.urls.join(',')],
    storeInit: (prefix) => ({ cluster: cluster!.urls, prefix }),
    serverOf: (prefix) => cluster!.masterOf(new RedisKeys(prefix, 'hash-tagged').vector()),
    restarted: () => cluster!.waitUntilOk(),
  }
}

for (const target of [oneRedis(), threeMasterCluster()]) crashTests(target)

function crashTests(target: CrashTarget): void {
  describe(`redis store crash tests on ${target.name}: real anywhere-node processes`, function () {
    this.timeout(90_000)
    let redis: RedisServer | undefined
    let node: NodeProcess | undefined
    let store: EventStore | undefined
    let dataDir = ''
    let prefix = ''

    const startNode = () =>
      startNodeProcess({
        args: [
          '--store',
          'redis',
          ...target.nodeArgs(),
          '--redis-prefix',
          prefix,
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          '--data-dir',
          dataDir,
          '--log-level',
          'error',
        ],
      })

    before(requireRedisServer)
    beforeEach(async () => {
      await target.start()
      dataDir = await mkdtemp(join(tmpdir(), 'anywhere-redis-crash-'))
      prefix = uniquePrefix('crash')
      redis = await target.serverOf(prefix)
    })
    afterEach(async () => {
      await store?.stop()
      await node?.kill()
      await target.stop()
      await rm(dataDir, { recursive: true, force: true })
      store = undefined
      node = undefined
      redis = undefined
    })

    it('keeps every acknowledged increment when the node is SIGKILLed under load', async () => {
      node = await startNode()
      const nodeId = node.ready.nodeId
      let url = node.url
      const load = steadyIncrements(() => url, 'c')
      const context = () => `tally ${JSON.stringify(load.tally)}; node output:\n${node?.output()}`
      await until('150 increments acknowledged', () => load.tally.acked >= 150, 30_000, context)
      await node.kill('SIGKILL')
      await load.stop()
      const { acked, unknown } = load.tally

      node = await startNode()
      url = node.url
      assert.equal(node.ready.nodeId, nodeId, 'the node keeps its origin across restarts')
      const value = await counterValue(url, 'c')
      assert.ok(value >= acked, `value ${value} lost acknowledged increments (${acked} acked)`)
      assert.ok(value <= acked + unknown, `value ${value} > ${acked} acked + ${unknown} in doubt`)

      store = await openRedisStore(target.storeInit(prefix))
      assert.equal(await storedIncrements(store, 'c'), value)
      const [vector, fromOrigin] = await Promise.all([
        store.versionVector(),
        store.readOrigin(nodeId, 1, 1_000_000),
      ])
      assert.deepEqual(
        fromOrigin.map((e) => e.seq),
        fromOrigin.map((_, i) => i + 1),
      )
      assert.equal(vector[nodeId], fromOrigin.length)
      // The restarted node appends after the events of its previous life.
      assert.equal((await increment(url, 'c')).status, 200)
      assert.equal((await store.versionVector())[nodeId], fromOrigin.length + 1)
    })

    it('answers 503 fast while redis-server is down and recovers without a restart; acknowledged increments survive its SIGKILL', async () => {
      node = await startNode()
      const url = node.url
      const load = steadyIncrements(() => url, 'r')
      const context = () => `tally ${JSON.stringify(load.tally)}; node output:\n${node?.output()}`
      await until('100 increments acknowledged', () => load.tally.acked >= 100, 30_000, context)
      await redis!.kill('SIGKILL')
      const ackedAtKill = load.tally.acked

      // While Redis is down: every command fails fast with 503, none hangs.
      for (let i = 0; i < 5; i++) {
        const started = Date.now()
        const reply = await increment(url, 'probe')
        const elapsed = Date.now() - started
        assert.equal(reply.status, 503)
        assert.ok(elapsed < FAIL_FAST_BOUND_MS, `a 503 took ${elapsed} ms`)
      }

      await redis!.restart()
      await target.restarted()
      await until(
        'the node serves increments again',
        async () => (await increment(url, 'probe')).status === 200,
        RECOVERY_DEADLINE_MS,
        context,
      )
      await until(
        '50 more increments acknowledged',
        () => load.tally.acked >= ackedAtKill + 50,
        30_000,
        context,
      )
      await load.stop()
      const { acked, unknown } = load.tally
      assert.ok(unknown > 0, 'some increments failed while Redis was down')

      store = await openRedisStore(target.storeInit(prefix))
      const stored = await storedIncrements(store, 'r')
      assert.ok(stored >= acked, `Redis holds ${stored} increments of ${acked} acknowledged`)
      assert.ok(
        stored <= acked + unknown,
        `Redis holds ${stored} > ${acked} acked + ${unknown} in doubt`,
      )
      assert.ok((await counterValue(url, 'r')) >= acked)
      assert.equal(node.exitCode(), undefined, 'the node never restarted')
    })
  })
}
