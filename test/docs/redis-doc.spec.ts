// docs/redis.md's Redis Cluster example runs as printed, against a real 3-master cluster
// (its three masters in place of the doc's addresses), and its keys carry the geo's hash tag.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js'
import { requireRedisServer } from '../support/redis-server.js'
import { REPO_ROOT } from '../support/scratch-module.js'

describe('docs/redis.md: the Redis Cluster example', function () {
  this.timeout(60_000)
  let cluster: RedisCluster | undefined
  let node: NodeProcess | undefined
  let dataDir = ''

  before(requireRedisServer)
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    dataDir = await mkdtemp(join(tmpdir(), 'anywhere-redis-doc-'))
  })
  after(async () => {
    await node?.stop()
    await cluster?.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('starts a node on the cluster with --redis-cluster, as printed', async () => {
    const text = await readFile(join(REPO_ROOT, 'docs/redis.md'), 'utf8')
    const line = [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((match) => match[1]!.trim())
      .find((code) => code.includes('--redis-cluster'))
    assert.ok(line, 'docs/redis.md shows --redis-cluster')
    const words = line.split(/\s+/)
    assert.deepEqual(words.slice(0, 2), ['npx', 'anywhere-node'])
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
})
