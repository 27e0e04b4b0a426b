// The README section "One address for three geos" runs as printed (on free ports).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
import { processesWith } from '../support/processes.js'
import { freePortRun } from '../support/ports.js'
import { REPO_ROOT } from '../support/scratch-module.js'

const run = promisify(execFile)

describe('documentation: README "One address for three geos"', function () {
  this.timeout(240_000)
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('runs as printed: the edge serves from the nearest geo, then from another after kill -9', async () => {
    const text = await readFile(join(REPO_ROOT, 'README.md'), 'utf8')
    const block = [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((code) => code.includes('anywhere-node.mjs edge'))
    assert.ok(block, 'the README has the edge section')
    const base = await freePortRun(3)
    const control = await freePortRun(1)
    const edgePort = await freePortRun(1)
    const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-readme-edge-'))
    const devLog = `dev-${basename(dataDir)}.log`
    const edgeLog = `edge-${basename(dataDir)}.log`
    const script = block
      .replace(
        'npx anywhere-node dev',
        `npx anywhere-node dev --http-port ${base} --control-port ${control} --data-dir ${dataDir}`,
      )
      .replace(/\b(localhost:|127\.0\.0\.1:)808([1-3])\b/g, (_, prefix: string, i: string) => {
        return `${prefix}${base + Number(i) - 1}`
      })
      .replace(/in 8081 8082 8083/, `in ${base} ${base + 1} ${base + 2}`)
      .replaceAll('localhost:8090', `localhost:${control}`)
      .replaceAll('--port 8000', `--port ${edgePort}`)
      .replaceAll('localhost:8000', `localhost:${edgePort}`)
      .replaceAll('dev.log', devLog)
      .replaceAll('edge.log', edgeLog)
    assert.doesNotMatch(
      script,
      /\b(80(8[1-3]|90)|8000)\b/,
      'every port of the block is substituted',
    )
    cleanups.push(async () => {
      await fetch(`http://127.0.0.1:${control}/quit`, { method: 'POST' }).catch(() => undefined)
      const deadline = Date.now() + 30_000
      while ((await processesWith(dataDir)).length > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100))
      for (const { pid } of await processesWith(dataDir)) process.kill(pid, 'SIGKILL')
      for (const { pid } of await processesWith(`--port ${edgePort}`)) process.kill(pid, 'SIGKILL')
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
      await rm(join(REPO_ROOT, devLog), { force: true })
      await rm(join(REPO_ROOT, edgeLog), { force: true })
    })
    let stdout: string
    try {
      stdout = (await run('bash', ['-e', '-c', script], { cwd: REPO_ROOT, timeout: 200_000 }))
        .stdout
    } catch (error) {
      const logs = await Promise.all(
        [devLog, edgeLog].map((f) => readFile(join(REPO_ROOT, f), 'utf8').catch(() => '')),
      )
      throw new Error(
        `${(error as Error).message}\n--- logs ---\n${logs.join('\n---\n').slice(-10_000)}`,
      )
    }
    const nearest = /served by geo ([abc])\n/.exec(stdout)?.[1]
    const next = /now served by geo ([abc])\n/.exec(stdout)?.[1]
    assert.ok(nearest && next && nearest !== next, stdout)
    assert.match(stdout, /\{"value":2\}/)
    assert.match(stdout, /"stopping":true/)
    const deadline = Date.now() + 60_000
    while ((await processesWith(`--port ${edgePort}`)).length > 0) {
      if (Date.now() > deadline) assert.fail('the edge was still running 60 s after kill')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
})
