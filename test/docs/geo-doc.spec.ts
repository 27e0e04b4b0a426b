// docs/geo.md runs as printed: its config module passes `anywhere-node check` and serves as a
// node of a geo, and its command line starts another member of the same geo.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeProcess, runNodeCommand, type NodeProcess } from '../support/node-process.js'
import { freePort } from '../support/ports.js'
import { REPO_ROOT, scratchModule } from '../support/scratch-module.js'
import { poll } from '../support/multi-geo.js'
import { requireRedisServer, startRedisServer, type RedisServer } from '../support/redis-server.js'

async function codeBlocks(file: string): Promise<Array<{ lang: string; code: string }>> {
  const text = await readFile(join(REPO_ROOT, file), 'utf8')
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }))
}

describe('documentation: docs/geo.md', function () {
  this.timeout(180_000)
  let redis: RedisServer | undefined
  const nodes: NodeProcess[] = []
  const cleanups: Array<() => Promise<void>> = []

  before(requireRedisServer)
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.kill('SIGKILL')))
    for (const cleanup of cleanups) await cleanup()
    await redis?.stop()
  })

  it('the config module and the command line each start a member of one geo', async () => {
    const blocks = await codeBlocks('docs/geo.md')
    const config = blocks.find((b) => b.lang === 'ts' && b.code.includes('members'))
    const command = blocks.find((b) => b.lang === 'sh' && b.code.includes('--members'))?.code.trim()
    assert.ok(config && command, 'docs/geo.md has a config module and a command line')
    redis = await startRedisServer()
    const channelPort = await freePort()
    const module = await scratchModule(
      'geo.config.mts',
      config.code
        .replace('redis://10.0.0.5:6379', redis.url)
        .replace("'10.0.0.11'", "'127.0.0.1'")
        .replace('port: 7500', `port: ${channelPort}`),
    )
    cleanups.push(module.remove)
    const checked = await runNodeCommand(['check', '--config', module.file])
    assert.equal(checked.code, 0, checked.stderr)

    const dirs = await Promise.all(
      [1, 2].map((i) => mkdtemp(join(tmpdir(), `anywhere-geo-doc-${i}-`))),
    )
    cleanups.push(async () => {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true })
    })
    nodes.push(
      await startNodeProcess({
        args: ['start', '--config', module.file, '--port', '0', '--data-dir', dirs[0]!],
        timeoutMs: 90_000,
      }),
    )
    const args = command
      .replace(/^npx anywhere-node /, '')
      .replace('redis://10.0.0.5:6379', redis.url)
      .replace('--port 8080', '--port 0')
      .replace('--data-dir ./node-1', `--data-dir ${dirs[1]}`)
      .split(/\s+/)
    nodes.push(await startNodeProcess({ args, timeoutMs: 90_000 }))
    let seen = ''
    await poll(
      'both nodes to list each other',
      async () => {
        const views = await Promise.all(
          nodes.map(
            async (n) => (await (await fetch(`${n.url}/v1/geo`)).json()) as { members: unknown[] },
          ),
        )
        seen = JSON.stringify(views)
        return views.every((v) => v.members.length === 2)
      },
      60_000,
    ).catch((error: Error) => assert.fail(`${error.message}: ${seen}`))
    const withOwner = (await (
      await fetch(`${nodes[1]!.url}/v1/geo?actor=counter/likes`)
    ).json()) as { owner: string }
    assert.ok(
      nodes.some((n) => n.ready.nodeId === withOwner.owner),
      JSON.stringify(withOwner),
    )
  })

  it("the fabric command line starts nodes of which one replicates, under the geo's key", async () => {
    const command = (await codeBlocks('docs/geo.md'))
      .find((b) => b.lang === 'sh' && b.code.includes('--fabric-listen'))
      ?.code.trim()
    assert.ok(command, 'docs/geo.md has a command line with a fabric')
    redis ??= await startRedisServer()
    const other = await mkdtemp(join(tmpdir(), 'anywhere-geo-doc-peer-'))
    const dirs = await Promise.all(
      [1, 2].map((i) => mkdtemp(join(tmpdir(), `anywhere-geo-doc-fabric-${i}-`))),
    )
    cleanups.push(async () => {
      for (const dir of [other, ...dirs]) await rm(dir, { recursive: true, force: true })
    })
    const peerId = (await runNodeCommand(['id', '--data-dir', other])).stdout.trim()
    const started: NodeProcess[] = []
    for (const dir of dirs) {
      const args = command
        .replace(/^npx anywhere-node /, '')
        .replace('redis://10.0.0.5:6379', redis.url)
        .replace('--redis-prefix eu-west:', '--redis-prefix eu-west-fabric:')
        .replace('--port 8080', '--port 0')
        .replace('--data-dir ./node-1', `--data-dir ${dir}`)
        .replace('/ip4/10.0.0.11/tcp/7401', `/ip4/127.0.0.1/tcp/${await freePort()}`)
        .replace('/ip4/10.0.2.21/tcp/7401', `/ip4/127.0.0.1/tcp/${await freePort()}`)
        .replace('<PeerId of us-east>', peerId)
        .split(/\s+/)
      const node = await startNodeProcess({ args, timeoutMs: 90_000 })
      nodes.push(node)
      started.push(node)
    }
    let seen = ''
    await poll(
      "one node replicating, both naming the geo's PeerId",
      async () => {
        const views = await Promise.all(
          started.map(
            async (n) =>
              (await (await fetch(`${n.url}/v1/fabric`)).json()) as {
                peerId: string
                listen: string[]
                peers: unknown[]
              },
          ),
        )
        seen = JSON.stringify(views)
        return (
          views[0]!.peerId === views[1]!.peerId &&
          views.filter((v) => v.listen.length > 0 && v.peers.length === 1).length === 1
        )
      },
      60_000,
    ).catch((error: Error) => assert.fail(`${error.message}: ${seen}`))
  })
})
