// The README section "A geo of three nodes" runs as printed (on free ports, in a temp dir).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { processesWith } from '../support/processes.js'
import { freePort, freePortRun } from '../support/ports.js'
import { requireRedisServer } from '../support/redis-server.js'
import { REPO_ROOT } from '../support/scratch-module.js'

const run = promisify(execFile)

describe('documentation: README "A geo of three nodes"', function () {
  this.timeout(240_000)
  let dir = ''

  before(requireRedisServer)
  afterEach(async () => {
    if (!dir) return
    for (const { pid } of await processesWith(dir)) process.kill(pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  })

  it('runs as printed: any node serves the counter, and another takes it after kill -9 of its owner', async () => {
    const text = await readFile(join(REPO_ROOT, 'README.md'), 'utf8')
    const block = [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((code) => code.includes('--members'))
    assert.ok(block, 'the README has the geo section')
    dir = await mkdtemp(join(tmpdir(), 'anywhere-readme-geo-'))
    const redisPort = await freePort()
    const base = await freePortRun(3)
    const script = block
      .replaceAll('.anywhere-geo', dir)
      .replaceAll('6390', String(redisPort))
      .replace(/\b809([1-3])\b/g, (_, i: string) => String(base + Number(i) - 1))
      .replace('--port 809$n', `--port $(( ${base - 1} + n ))`)
      .replaceAll('809$survivor', `$(( ${base - 1} + survivor ))`)
    assert.doesNotMatch(script, /\b(809|6390)/, 'every port of the block is substituted')
    let stdout: string
    try {
      stdout = (await run('bash', ['-e', '-c', script], { cwd: REPO_ROOT, timeout: 200_000 }))
        .stdout
    } catch (error) {
      throw new Error(`${(error as Error).message}`)
    }
    const values = [...stdout.matchAll(/\{"value":(\d+)\}/g)].map((m) => Number(m[1]))
    assert.deepEqual(values, [1, 2, 3, 4], stdout)
    assert.match(stdout, /"owner":"/)
  })
})
