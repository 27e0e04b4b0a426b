// docs/observability.md: its commands run as printed, and its metric list is what a node serves.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startNodeProcess, stopAllNodeProcesses } from '../support/node-process.js'
import { poll, startMultiGeo, stopAllMultiGeos, type Geo } from '../support/multi-geo.js'
import { REPO_ROOT } from '../support/scratch-module.js'

const run = promisify(execFile)
const DOC = 'docs/observability.md'

async function codeBlocks(): Promise<Array<{ lang: string; code: string }>> {
  const text = await readFile(join(REPO_ROOT, DOC), 'utf8')
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }))
}

/** A printed result as a pattern: `...` stands for anything. */
function printed(expected: string): RegExp {
  const parts = expected.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${parts.join('.*?')}$`)
}

describe('docs/observability.md', function () {
  this.timeout(120_000)
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
    await stopAllNodeProcesses()
    await stopAllMultiGeos()
  })

  it('its shell examples run as printed against a fresh node', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-obs-doc-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const node = await startNodeProcess({
      args: ['--port', '0', '--data-dir', dataDir, '--store', 'memory', '--log-level', 'warn'],
    })
    const host = new URL(node.url).host
    const blocks = (await codeBlocks()).filter((b) => b.lang === 'sh')
    assert.ok(blocks.length >= 2, 'the doc has its shell examples')
    let checked = 0
    for (const block of blocks) {
      const lines = block.code.split('\n')
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim()
        if (!line.startsWith('curl ')) continue
        const { stdout } = await run('bash', ['-c', line.replaceAll('localhost:8080', host)], {
          timeout: 10_000,
        })
        const expected = lines[i + 1]?.trim()
        if (!expected?.startsWith('# ')) continue
        assert.match(stdout.trim(), printed(expected.slice(2)), `${line} printed ${stdout}`)
        checked++
      }
    }
    assert.equal(checked, 2, 'both printed results are checked')
  })

  it('lists every anywhere_ metric a node with a fabric serves, and only those; its queries name them', async () => {
    const text = await readFile(join(REPO_ROOT, DOC), 'utf8')
    const listed = new Set([...text.matchAll(/^\| `(anywhere_[a-z_]+)` *\|/gm)].map((m) => m[1]!))
    const cluster = await startMultiGeo({ geos: ['a', 'b'] })
    const [a] = cluster.geos as [Geo, Geo]
    let scrape = ''
    await poll('a scrapes b connected', async () => {
      scrape = await (await fetch(`${a.url}/metrics`)).text()
      return /^anywhere_fabric_peer_connected\{.*peer_geo="b".*\} 1$/m.test(scrape)
    })
    const served = new Set([...scrape.matchAll(/^# TYPE (anywhere_[a-z_]+) /gm)].map((m) => m[1]!))
    assert.deepEqual([...listed].sort(), [...served].sort())
    const queries = (await codeBlocks()).find((b) => b.lang === 'promql')
    assert.ok(queries, 'the doc has example queries')
    for (const [name] of queries.code.matchAll(/anywhere_[a-z_]+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, '')
      assert.ok(served.has(base), `${name} in a query is a served metric`)
    }
    for (const label of ['geo', 'peer_geo', 'status', 'actor_type', 'route'])
      assert.match(scrape, new RegExp(`[{,]${label}="`), `label ${label} is served`)
  })
})
