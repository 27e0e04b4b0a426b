// Two single nodes (no --members) on one Redis prefix must not both serve: each would keep
// its own copy of an actor and run commands on stale state. The second start is refused
// (StoreLockedError), the same node takes its lease back at once after kill -9, and a node
// paused past its lease whose prefix another node took refuses writes (StoreLeaseLostError).
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
// Errors are compared by name: the node loads the Redis store with a dynamic import, which
// tsx gives module instances of its own (an `instanceof` across the two would not hold).
import { StoreLeaseLostError, StoreLockedError } from '../../core/index.js'
import { createNode, type AnywhereNode } from '../../node/index.js'
import { RedisKeys } from '../../stores/redis/keys.js'
import { poll } from '../support/multi-geo.js'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { requireRedis, testRedis, uniquePrefix } from '../support/redis-server.js'
import { deleteKeys } from '../stores/redis/helpers.js'
import { REPO_ROOT } from '../support/scratch-module.js'

/** A deadline for conditions that depend on other processes on a loaded machine. */
const DEADLINE_MS = 30_000

async function increment(url: string, id: string): Promise<Response> {
  return fetch(`${url}/v1/actors/counter/${id}/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"by":1}',
    signal: AbortSignal.timeout(10_000),
  })
}

async function counterValue(url: string, id: string): Promise<unknown> {
  const reply = await fetch(`${url}/v1/actors/counter/${id}`, {
    signal: AbortSignal.timeout(10_000),
  })
  assert.equal(reply.status, 200, await reply.clone().text())
  return reply.json()
}

describe('node: one single node per Redis prefix', function () {
  this.timeout(120_000)

  let redis: { url: string; stop(): Promise<void> } | undefined
  let admin: Redis | undefined
  const prefixes: string[] = []
  const dirs: string[] = []
  const nodes: AnywhereNode[] = []
  const processes: NodeProcess[] = []

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    await admin.connect()
  })
  afterEach(async () => {
    for (const child of processes.splice(0)) {
      child.signal('SIGCONT')
      await child.kill()
    }
    for (const node of nodes.splice(0)) await node.stop()
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
    for (const prefix of prefixes.splice(0)) await deleteKeys(redis!.url, prefix)
  })
  after(async () => {
    admin?.disconnect()
    await redis?.stop()
  })

  async function dataDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-redis-owner-'))
    dirs.push(dir)
    return dir
  }

  function newPrefix(): string {
    const prefix = uniquePrefix('owner')
    prefixes.push(prefix)
    return prefix
  }

  async function inProcessNode(dir: string, prefix: string): Promise<AnywhereNode> {
    const node = await createNode({
      dataDir: dir,
      store: { kind: 'redis', url: redis!.url, prefix },
      http: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    })
    nodes.push(node)
    return node
  }

  it('refuses a second node on the prefix, naming the prefix, the node that holds it and both fixes; the refused node writes nothing', async () => {
    const prefix = newPrefix()
    const first = await inProcessNode(await dataDir(), prefix)
    await first.start()
    assert.equal((await increment(first.gateway!.url, 'c')).status, 200)
    const keysBefore = (await admin!.keys(`${prefix}*`)).sort()

    const second = await inProcessNode(await dataDir(), prefix)
    assert.notEqual(second.nodeId, first.nodeId)
    const error = await second.start().then(
      () => new Error('the second node started'),
      (e: unknown) => e as Error,
    )
    assert.equal(error.name, StoreLockedError.name, String(error))
    assert.match(error.message, new RegExp(`redis prefix '${prefix}' on `))
    assert.ok(error.message.includes(`held by node ${first.nodeId}`), error.message)
    assert.ok(error.message.includes(`host ${hostname()}, pid ${process.pid}`), error.message)
    assert.match(error.message, /start every one of them with --members/)
    assert.match(error.message, /give it another prefix \(--redis-prefix\)/)
    assert.match(error.message, /its lease expires in \d+ ms unless that node renews it/)

    // Nothing of the refused node is in Redis: the same keys, no origin of its own.
    assert.deepEqual((await admin!.keys(`${prefix}*`)).sort(), keysBefore)
    const vector = await admin!.hgetall(`${prefix}vv`)
    assert.deepEqual(Object.keys(vector), [first.nodeId])
    // And the first node still serves.
    assert.equal((await increment(first.gateway!.url, 'c')).status, 200)
    assert.deepEqual(await counterValue(first.gateway!.url, 'c'), { value: 2 })
  })

  it('a clean stop gives the prefix up: another node starts at once and reads every increment', async () => {
    const prefix = newPrefix()
    const first = await inProcessNode(await dataDir(), prefix)
    await first.start()
    for (let i = 0; i < 3; i++) assert.equal((await increment(first.gateway!.url, 'c')).status, 200)
    await first.stop()
    assert.equal(await admin!.exists(`${prefix}owner`), 0, 'the lease is deleted on a clean stop')

    const second = await inProcessNode(await dataDir(), prefix)
    await second.start()
    assert.deepEqual(await counterValue(second.gateway!.url, 'c'), { value: 3 })
  })

  it('the same node restarted after kill -9 takes its lease back at once; another node is told how long to wait', async () => {
    const prefix = newPrefix()
    const dir = await dataDir()
    const args = [
      '--store',
      'redis',
      '--redis-url',
      redis!.url,
      '--redis-prefix',
      prefix,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--log-level',
      'error',
    ]
    const first = await startNodeProcess({ args: [...args, '--data-dir', dir] })
    processes.push(first)
    assert.equal((await increment(first.url, 'c')).status, 200)
    await first.kill('SIGKILL')

    // The lease outlives the process (default ownerLeaseMs: 10 s).
    const ttl = await admin!.pttl(`${prefix}owner`)
    assert.ok(ttl > 0, `the lease is still held after kill -9 (pttl ${ttl})`)

    const other = await inProcessNode(await dataDir(), prefix)
    const error = await other.start().then(
      () => new Error('another node started while the lease was held'),
      (e: unknown) => e as Error,
    )
    assert.equal(error.name, StoreLockedError.name, String(error))
    assert.ok(error.message.includes(`held by node ${first.ready.nodeId}`), error.message)
    assert.ok(error.message.includes(`pid ${first.pid}`), error.message)
    assert.match(error.message, /expires in \d+ ms/)

    const again = await startNodeProcess({ args: [...args, '--data-dir', dir] })
    processes.push(again)
    assert.equal(again.ready.nodeId, first.ready.nodeId)
    assert.ok(
      (await admin!.pttl(`${prefix}owner`)) > 0,
      'restarted while the old lease would still have been held',
    )
    assert.equal((await increment(again.url, 'c')).status, 200)
    assert.deepEqual(await counterValue(again.url, 'c'), { value: 2 })
  })

  it('a node paused past its lease whose prefix another node took refuses writes with StoreLeaseLostError (503) and writes nothing', async () => {
    const prefix = newPrefix()
    const ownerLeaseMs = 1_000
    const configFile = async (dir: string): Promise<string> => {
      const file = join(dir, 'config.json')
      await writeFile(
        file,
        JSON.stringify({
          dataDir: dir,
          builtInActors: true,
          store: { kind: 'redis', url: redis!.url, prefix, ownerLeaseMs },
          http: { host: '127.0.0.1', port: 0 },
          log: { level: 'error' },
        }),
      )
      return file
    }
    const paused = await startNodeProcess({
      args: ['--config', await configFile(await dataDir())],
    })
    processes.push(paused)
    assert.equal((await increment(paused.url, 'c')).status, 200)

    paused.signal('SIGSTOP')
    await poll(
      'the paused node lease to expire',
      async () => (await admin!.exists(`${prefix}owner`)) === 0,
      DEADLINE_MS,
    )
    const taker = await startNodeProcess({
      args: ['--config', await configFile(await dataDir())],
    })
    processes.push(taker)
    assert.notEqual(taker.ready.nodeId, paused.ready.nodeId)
    assert.equal((await increment(taker.url, 'c')).status, 200)
    assert.deepEqual(await counterValue(taker.url, 'c'), { value: 2 })

    paused.signal('SIGCONT')
    // Whether its renewal or the append's fence sees it first, the answer is the same.
    const refused = await increment(paused.url, 'c')
    const body = (await refused.json()) as { error: string; message: string }
    assert.equal(refused.status, 503, JSON.stringify(body))
    assert.equal(body.error, StoreLeaseLostError.name)
    assert.match(body.message, new RegExp(`no longer holds the prefix '${prefix}'`))
    // It keeps refusing, and nothing it was sent reached Redis.
    await poll(
      'the paused node to keep refusing writes',
      async () => (await increment(paused.url, 'd')).status === 503,
      DEADLINE_MS,
    )
    // A load balancer that asks /readyz stops sending it requests.
    await poll(
      'the paused node to read as not ready',
      async () =>
        (await fetch(`${paused.url}/readyz`, { signal: AbortSignal.timeout(10_000) })).status ===
        503,
      DEADLINE_MS,
    )
    const vector = await admin!.hgetall(`${prefix}vv`)
    assert.equal(vector[paused.ready.nodeId], '1', JSON.stringify(vector))
    assert.deepEqual(await counterValue(taker.url, 'c'), { value: 2 })
    assert.equal((await increment(taker.url, 'c')).status, 200)
    assert.deepEqual(await counterValue(taker.url, 'c'), { value: 3 })
  })

  it("docs/redis.md: the second node's command prints the error the doc shows, and exits with code 1", async () => {
    const doc = await readFile(join(REPO_ROOT, 'docs/redis.md'), 'utf8')
    const blocks = (lang: string) =>
      [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) =>
        m[1]!.trim(),
      )
    const command = blocks('sh').find((code) => code.includes('--data-dir ./node-b'))
    const printed = blocks('text').find((code) =>
      code.startsWith('anywhere-node: StoreLockedError'),
    )
    assert.ok(command && printed, 'docs/redis.md shows the command and what it prints')
    const words = command.split(/\s+/)
    assert.deepEqual(words.slice(0, 2), ['npx', 'anywhere-node'])

    const prefix = newPrefix()
    const first = await inProcessNode(await dataDir(), prefix)
    await first.start()
    const dir = await dataDir()
    // The doc's command, on this test's Redis, prefix and data dir, with a free port.
    const args = words
      .slice(2)
      .map((word) =>
        word === 'redis://10.0.0.5:6379'
          ? redis!.url
          : word === 'eu-west:'
            ? prefix
            : word === './node-b'
              ? dir
              : word,
      )
    const failure = await startNodeProcess({
      args: [...args, '--port', '0', '--host', '127.0.0.1'],
    }).then(
      async (started) => {
        processes.push(started)
        return new Error('the second node started')
      },
      (error: unknown) => error as Error,
    )
    assert.match(failure.message, /exited \(code 1\) before it was ready/, failure.message)
    const line = failure.message.split('\n').find((l) => l.startsWith('anywhere-node: '))
    // What differs from run to run: the prefix, the Redis, the holder, the time left.
    const normal = (text: string, ownPrefix: string, url: string) =>
      text
        .replace(`'${ownPrefix}'`, "'PREFIX'")
        .replace(url, 'URL')
        .replace(/node local-[0-9a-f]+ \(host [^,]+, pid \d+, since [^)]+\)/, 'node HOLDER')
        .replace(/expires in \d+ ms/, 'expires in N ms')
    assert.equal(
      normal(line ?? failure.message, prefix, redis!.url),
      normal(printed, 'eu-west:', 'redis://10.0.0.5:6379'),
    )
    assert.deepEqual(Object.keys(await admin!.hgetall(`${prefix}vv`)), [])
  })

  it('the lease key is under the prefix, as every other key', () => {
    assert.equal(new RedisKeys('p:').owner().toString(), 'p:owner')
    assert.equal(new RedisKeys('p:', 'hash-tagged').ownerToken().toString(), '{p:}owner:token')
  })
})
