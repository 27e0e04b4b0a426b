// docs/redis.md's Redis Cluster example runs as printed, against a real 3-master cluster
// (its three masters in place of the doc's addresses), and its keys carry the geo's hash tag.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js'
import { runNodeCommand } from '../support/node-process.js'
import { requireRedisServer, startRedisServer, type RedisServer } from '../support/redis-server.js'
import { REPO_ROOT } from '../support/scratch-module.js'

/** The words of the sh block of docs/redis.md that holds `flag`. */
async function docCommand(flag: string): Promise<string[]> {
  const text = await readFile(join(REPO_ROOT, 'docs/redis.md'), 'utf8')
  const line = [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((match) => match[1]!.trim())
    .find((code) => code.includes(flag))
  assert.ok(line, `docs/redis.md shows ${flag}`)
  const words = line.split(/\s+/)
  assert.deepEqual(words.slice(0, 2), ['npx', 'anywhere-node'])
  return words.slice(2)
}

async function increment(url: string, id: string): Promise<void> {
  const reply = await fetch(`${url}/v1/actors/counter/${id}/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"by":1}',
  })
  assert.equal(reply.status, 200, await reply.text())
}

async function counterValue(url: string, id: string): Promise<unknown> {
  return (await fetch(`${url}/v1/actors/counter/${id}`)).json()
}

describe('docs/redis.md: the Redis Cluster examples', function () {
  this.timeout(90_000)
  let cluster: RedisCluster | undefined
  let redis: RedisServer | undefined
  let node: NodeProcess | undefined
  let dataDir = ''

  before(requireRedisServer)
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    dataDir = await mkdtemp(join(tmpdir(), 'anywhere-redis-doc-'))
  })
  afterEach(async () => {
    await node?.stop()
    node = undefined
  })
  after(async () => {
    await cluster?.stop()
    await redis?.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('starts a node on the cluster with --redis-cluster, as printed', async () => {
    const words = ['npx', 'anywhere-node', ...(await docCommand('--redis-cluster'))]
    const printed = words[words.indexOf('--redis-cluster') + 1]!.split(',')
    assert.equal(printed.length, cluster!.masters.length)
    const ours = cluster!.masters.map((master) => `127.0.0.1:${master.port}`)
    const args = words.slice(2).map((word) => (word.includes(printed[0]!) ? ours.join(',') : word))
    node = await startNodeProcess({
      args: [...args, '--port', '0', '--data-dir', dataDir, '--log-level', 'error'],
    })
    const increment = await fetch(`${node.url}/v1/actors/counter/doc/increment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"by":2}',
    })
    assert.equal(increment.status, 200, await increment.text())
    const value = await fetch(`${node.url}/v1/actors/counter/doc`)
    assert.deepEqual(await value.json(), { value: 2 })

    const prefix = words[words.indexOf('--redis-prefix') + 1]!
    const master = await cluster!.masterOf(`{${prefix}}vv`)
    const client = new Redis(master.url, { maxRetriesPerRequest: 0 })
    try {
      assert.deepEqual(await client.hgetall(`{${prefix}}vv`), { [node.ready.nodeId]: '1' })
    } finally {
      client.disconnect()
    }
  })

  it('moves a geo from one Redis to the cluster with redis-copy, as printed', async () => {
    redis = await startRedisServer()
    const prefix = 'eu-west-copy:'
    const nodeArgs = ['--port', '0', '--data-dir', dataDir, '--log-level', 'error']
    node = await startNodeProcess({
      args: ['--redis-url', redis.url, '--redis-prefix', prefix, ...nodeArgs],
    })
    for (let i = 0; i < 3; i++) await increment(node.url, 'moved')
    await node.stop()
    node = undefined

    const ours = cluster!.masters.map((master) => `127.0.0.1:${master.port}`).join(',')
    const args = (await docCommand('redis-copy')).map((word, i, words) => {
      if (words[i - 1] === '--prefix') return prefix
      if (words[i - 1] === '--from-url') return redis!.url
      if (words[i - 1] === '--to-cluster') return ours
      return word
    })
    const copy = await runNodeCommand(args)
    assert.equal(copy.code, 0, copy.stderr)
    assert.match(copy.stdout, /^copied \d+ keys under prefix 'eu-west-copy:'/)
    const again = await runNodeCommand(args)
    assert.equal(again.code, 2, 'a second copy is refused: the target has events')
    assert.match(again.stderr, /already holds events under prefix/)

    node = await startNodeProcess({
      args: ['--redis-cluster', ours, '--redis-prefix', prefix, ...nodeArgs],
    })
    assert.deepEqual(await counterValue(node.url, 'moved'), { value: 3 })
    await increment(node.url, 'moved')
    assert.deepEqual(await counterValue(node.url, 'moved'), { value: 4 })
    // The node went on with its own seqs: 4, not 1 again.
    const master = await cluster!.masterOf(`{${prefix}}vv`)
    const client = new Redis(master.url, { maxRetriesPerRequest: 0 })
    try {
      assert.deepEqual(await client.hgetall(`{${prefix}}vv`), { [node.ready.nodeId]: '4' })
    } finally {
      client.disconnect()
    }
  })
})
