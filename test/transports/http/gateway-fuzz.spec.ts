// Seeded fuzzing of the HTTP gateway of a real `anywhere-node` process (file store).
// FUZZ_SEED=<n> replays a run, FUZZ_REQUESTS=<n> sets its length, FUZZ_RUNS=<n> runs several
// seeds, FUZZ_CASE=<i> replays one case of a seed. `npm run fuzz` is the long version.
import assert from 'node:assert/strict'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FUZZ_ID_PREFIX } from '../../support/http-fuzz-cases.js'
import { runHttpFuzz } from '../../support/http-fuzzer.js'
import { startNodeProcess, type NodeProcess } from '../../support/node-process.js'
import { countFrom, seedFrom } from '../../support/seeded-random.js'

/** The resident set of a process, in KiB, from /proc. */
async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(match[1])
}

async function json(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  const text = await response.text()
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined }
}

const post = (url: string, body: unknown) =>
  json(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })

/** Every actor the fuzzer may have changed, and the witnesses it must not touch. */
function watchedActors(): string[] {
  const paths = ['/v1/actors/counter/witness', '/v1/actors/cart/witness']
  for (const type of ['counter', 'register', 'set', 'map', 'cart'])
    for (let i = 0; i < 8; i++) paths.push(`/v1/actors/${type}/${FUZZ_ID_PREFIX}${i}`)
  return paths
}

async function readAll(base: string): Promise<Record<string, unknown>> {
  const states: Record<string, unknown> = {}
  for (const path of watchedActors()) {
    const { status, body } = await json(`${base}${path}`)
    assert.equal(status, 200, `GET ${path}`)
    states[path] = body
  }
  return states
}

describe('HTTP gateway: seeded fuzzing of a real node', function () {
  const requests = countFrom(process.env.FUZZ_REQUESTS, 400)
  const runs = process.env.FUZZ_SEED ? 1 : countFrom(process.env.FUZZ_RUNS, 1)
  const only = process.env.FUZZ_CASE ? Number(process.env.FUZZ_CASE) : undefined
  this.timeout(90_000 + requests * 60)
  let dir: string | undefined
  let node: NodeProcess | undefined

  const start = async (dataDir: string) =>
    startNodeProcess({
      args: [
        '--geo',
        'fuzz',
        '--store',
        'file',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        '--log-level',
        'warn',
      ],
    })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && node)
      process.stderr.write(`--- node output ---\n${node.output().slice(-4_000)}\n`)
    await node?.kill('SIGKILL')
    node = undefined
    if (dir) await rm(dir, { recursive: true, force: true })
    dir = undefined
  })

  for (let run = 0; run < runs; run++) {
    const seed = seedFrom(process.env.FUZZ_SEED)
    it(`survives ${only !== undefined ? `case ${only} of` : `${requests} random requests of`} seed ${seed} (FUZZ_SEED=${seed} replays): no 5xx, JSON 4xx, bounded memory, clean restart`, async () => {
      dir = await mkdtemp(join(tmpdir(), 'anywhere-fuzz-'))
      node = await start(dir)
      const base = node.url
      assert.equal(
        (await post(`${base}/v1/actors/counter/witness/increment`, { by: 5 })).status,
        200,
      )
      assert.equal((await post(`${base}/v1/actors/cart/witness/add`, { sku: 'tea' })).status, 200)
      // Warm up (JIT, pools, first files) before the memory baseline.
      for (let i = 0; i < 30; i++)
        await post(`${base}/v1/actors/counter/warm${i % 3}/increment`, { by: 1 })
      const rssBefore = await rssKiB(node.pid)
      const witnessBefore = await readAll(base)

      const started = Date.now()
      const report = await runHttpFuzz({
        url: base,
        seed,
        requests,
        concurrency: countFrom(process.env.FUZZ_CONCURRENCY, 12),
        ...(only !== undefined ? { only } : {}),
      })
      const ms = Date.now() - started
      const replay = `FUZZ_SEED=${seed} npx mocha test/transports/http/gateway-fuzz.spec.ts (FUZZ_CASE=<index> for one case)`
      assert.deepEqual(
        report.violations.slice(0, 10),
        [],
        `${report.violations.length} answers broke a rule; replay with ${replay}`,
      )
      assert.equal(
        node.exitCode(),
        undefined,
        `the node exited during the fuzz: ${node.output().slice(-2_000)}`,
      )
      process.stdout.write(
        `      fuzz seed ${seed}: ${report.cases} cases in ${ms} ms, statuses ${JSON.stringify(report.byStatus)}, ${report.retriedAfterClose} sent again after a closed keep-alive connection\n`,
      )

      // Still serving, and the witnesses were not touched.
      assert.equal((await json(`${base}/healthz`)).status, 200)
      const after = await readAll(base)
      assert.deepEqual(
        after['/v1/actors/counter/witness'],
        witnessBefore['/v1/actors/counter/witness'],
      )
      assert.deepEqual(after['/v1/actors/cart/witness'], witnessBefore['/v1/actors/cart/witness'])
      const normal = await post(`${base}/v1/actors/counter/witness/increment`, { by: 1 })
      assert.deepEqual(normal, { status: 200, body: { value: 6 } })

      const rssAfter = await rssKiB(node.pid)
      process.stdout.write(`      RSS ${rssBefore} KiB before, ${rssAfter} KiB after\n`)
      assert.ok(
        rssAfter <= 2 * rssBefore,
        `RSS grew from ${rssBefore} KiB to ${rssAfter} KiB (seed ${seed})`,
      )

      // A clean stop, and the same state after a start on the same data.
      const states = await readAll(base)
      await node.stop()
      assert.equal(node.exitCode(), 0, `exit code after SIGTERM: ${node.output().slice(-2_000)}`)
      node = await start(dir)
      assert.deepEqual(await readAll(node.url), states, 'state after the restart')
    })
  }
})
