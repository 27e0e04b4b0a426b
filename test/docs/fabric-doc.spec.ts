// docs/fabric.md's command lines run as printed, with this machine's addresses and real
// PeerIds in place of the placeholders: each starts a node whose fabric allowlists the peers
// it names (one peer per PeerId, however many addresses it is given).
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runNodeCommand, startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { freePort } from '../support/ports.js'
import { REPO_ROOT } from '../support/scratch-module.js'

/** The `npx anywhere-node --geo ...` commands of the doc's sh blocks, continuation lines joined. */
async function nodeCommands(file: string): Promise<string[]> {
  const text = await readFile(join(REPO_ROOT, file), 'utf8')
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.startsWith('npx anywhere-node --geo'))
}

describe('documentation: docs/fabric.md', function () {
  this.timeout(180_000)
  const nodes: NodeProcess[] = []
  const dirs: string[] = []

  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.kill('SIGKILL')))
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('each command line starts a node that allowlists the peers it names', async () => {
    const commands = await nodeCommands('docs/fabric.md')
    assert.ok(commands.length >= 2, `found ${commands.length} command lines`)
    for (const command of commands) {
      const dir = await mkdtemp(join(tmpdir(), 'anywhere-fabric-doc-'))
      dirs.push(dir)
      const peerIds = new Map<string, string>()
      for (const name of new Set([...command.matchAll(/<PeerId of (\w+)>/g)].map((m) => m[1]!))) {
        const peerDir = await mkdtemp(join(tmpdir(), `anywhere-fabric-doc-${name}-`))
        dirs.push(peerDir)
        peerIds.set(name, (await runNodeCommand(['id', '--data-dir', peerDir])).stdout.trim())
      }
      let args = command
        .replace(/^npx anywhere-node /, '')
        .replace(/--data-dir \S+/, `--data-dir ${dir}`)
        .replace(/<PeerId of (\w+)>/g, (_, name: string) => peerIds.get(name)!)
      for (const address of new Set(args.match(/\/ip4\/[\d.]+\/tcp\/\d+/g)))
        args = args.replaceAll(address, `/ip4/127.0.0.1/tcp/${await freePort()}`)
      const node = await startNodeProcess({
        args: [...args.split(/\s+/), '--port', '0', '--store', 'memory'],
        timeoutMs: 90_000,
      })
      nodes.push(node)
      const status = (await (await fetch(`${node.url}/v1/fabric`)).json()) as {
        peers: { peerId: string }[]
      }
      assert.deepEqual(
        status.peers.map((p) => p.peerId).sort(),
        [...peerIds.values()].sort(),
        command,
      )
    }
  })
})
