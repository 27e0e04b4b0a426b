// The edge against the gateway it fronts, in one run: requests/s and latency straight to a geo's
// gateway (the floor), through `anywhere-node edge`, and through HAProxy when Debian's haproxy is
// installed (a reference front door); then failover time after kill -9. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/edge.bench.ts [--rounds=N] [--seconds=S] [--failovers=N]
import autocannon from 'autocannon'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { percent, quantile, rate, spread, spreadText, table } from './support/stats.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 5)
const SECONDS = Number(args.get('seconds') ?? 4)
const FAILOVERS = Number(args.get('failovers') ?? 7)
const WARMUP_SECONDS = 2
const CONNECTIONS = 50
const SEQUENTIAL_REQUESTS = 2_000
const IDS = 16
const BODY = JSON.stringify({ by: 1 })
const BIN = fileURLToPath(new URL('../bin/anywhere-node.mjs', import.meta.url))
const HAPROXY = '/usr/sbin/haproxy'

type Kind = 'gateway' | 'edge' | 'haproxy'
const LABELS: Record<Kind, string> = {
  gateway: 'floor: straight to the geo’s gateway',
  edge: '`anywhere-node edge` in front of it',
  haproxy: 'reference: HAProxy 2.6 in front of it (`http` mode, keep-alive)',
}

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts `anywhere-node <args>` (from source) and resolves with its ready line's URL. */
async function startCli(cliArgs: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [BIN, ...cliArgs], {
    env: { ...process.env, ANYWHERE_NODE_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`no ready line from ${cliArgs.join(' ')}`)),
      60_000,
    )
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const line = out.split('\n').find((l) => l.startsWith('{"event":"ready"'))
      if (line) {
        clearTimeout(timer)
        resolve({ url: (JSON.parse(line) as { http: string }).http, child })
      }
    })
    child.once('exit', (code) => reject(new Error(`${cliArgs.join(' ')} exited with ${code}`)))
  })
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

async function startHaproxy(
  target: string,
  dir: string,
): Promise<{ url: string; pid: number | undefined } | undefined> {
  if (spawnSync(HAPROXY, ['-v']).status !== 0) return undefined
  const port = await freePort()
  const { host } = new URL(target)
  const config = join(dir, 'haproxy.cfg')
  await writeFile(
    config,
    [
      'global',
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  option http-keep-alive',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend front',
      `  bind 127.0.0.1:${port}`,
      '  default_backend geo',
      'backend geo',
      '  http-reuse always',
      `  server g ${host} maxconn 128`,
      '',
    ].join('\n'),
  )
  const child = spawn(HAPROXY, ['-f', config, '-db'], { stdio: 'ignore' })
  children.add(child)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, pid: child.pid }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('haproxy did not start')
}

/** User + system CPU seconds a process has used so far, from /proc (Linux; undefined elsewhere). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

interface Sample {
  /** CPU time the front door process used per 2xx response, in µs (the geo's own for the floor). */
  readonly cpuUs: number | undefined
  readonly throughput: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failures: number
}

async function load(url: string, seconds: number, pid?: number): Promise<Sample> {
  const cpuBefore = cpuSeconds(pid)
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: Array.from({ length: IDS }, (_, i) => ({
      method: 'POST' as const,
      path: `/v1/actors/counter/bench-${i}/increment`,
      headers: { 'content-type': 'application/json' },
      body: BODY,
    })),
  })
  const cpuAfter = cpuSeconds(pid)
  return {
    cpuUs:
      cpuBefore === undefined || cpuAfter === undefined || result['2xx'] === 0
        ? undefined
        : ((cpuAfter - cpuBefore) * 1e6) / result['2xx'],
    throughput: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
  }
}

/** One connection, one request at a time: the latency each hop adds, in µs resolution. */
async function sequentialMedianMs(url: string): Promise<number> {
  const pool = new Pool(url, { connections: 1 })
  const times = new Float64Array(SEQUENTIAL_REQUESTS)
  try {
    for (let i = 0; i < SEQUENTIAL_REQUESTS; i++) {
      const started = performance.now()
      const response = await pool.request({
        method: 'POST',
        path: `/v1/actors/counter/seq-${i % IDS}/increment`,
        headers: { 'content-type': 'application/json' },
        body: BODY,
      })
      await response.body.dump()
      times[i] = performance.now() - started
    }
  } finally {
    await pool.close()
  }
  return quantile(times.sort(), 0.5)
}

/**
 * kill -9 of the geo serving an edge's steady load (2 workers): the time from the kill to
 * the first request served by the other geo, and to the last failed one (none expected: the
 * requests carry Idempotency-Keys, so the edge retries those the dead geo held).
 */
async function failover(dir: string): Promise<{ firstElsewhereMs: number; failures: number }> {
  const ports = [await freePort(), await freePort()]
  const startGeo = (name: string, port: number) =>
    startCli([
      'start',
      '--geo',
      name,
      '--store',
      'memory',
      '--port',
      String(port),
      '--data-dir',
      join(dir, name),
      '--log-level',
      'warn',
    ])
  const geos = await Promise.all([startGeo('x', ports[0]!), startGeo('y', ports[1]!)])
  const front = await startCli([
    'edge',
    '--port',
    '0',
    '--geo',
    `x=${geos[0].url}`,
    '--geo',
    `y=${geos[1].url}`,
    '--log-level',
    'warn',
  ])
  try {
    const pool = new Pool(front.url, { connections: 4 })
    let stop = false
    let key = 0
    const served: Array<{ end: number; geo: string | undefined; status: number }> = []
    const worker = async () => {
      for (let n = 0; !stop && n < 1_000_000; n++) {
        try {
          const response = await pool.request({
            method: 'POST',
            path: '/v1/actors/counter/failover/increment',
            headers: { 'idempotency-key': `f-${key++}` },
            body: '{}',
          })
          await response.body.dump()
          served.push({
            end: performance.now(),
            geo: response.headers['anywhere-geo'] as string | undefined,
            status: response.statusCode,
          })
        } catch {
          served.push({ end: performance.now(), geo: undefined, status: 0 })
        }
      }
    }
    const workers = [worker(), worker()]
    for (let i = 0; i < 2_000 && served.length < 50; i++)
      await new Promise((resolve) => setTimeout(resolve, 10))
    const victim = served.at(-1)?.geo === 'y' ? 1 : 0
    const killedAt = performance.now()
    await kill(geos[victim]!.child)
    const other = victim === 0 ? 'y' : 'x'
    for (let i = 0; i < 1_000 && !served.some((s) => s.end > killedAt && s.geo === other); i++)
      await new Promise((resolve) => setTimeout(resolve, 10))
    stop = true
    await Promise.all(workers)
    await pool.close()
    const first = served.find((s) => s.end > killedAt && s.geo === other)
    return {
      firstElsewhereMs: first ? first.end - killedAt : Number.NaN,
      failures: served.filter((s) => s.status !== 200).length,
    }
  } finally {
    await Promise.all([...geos, front].map((p) => kill(p.child)))
  }
}

function cpuText(list: readonly Sample[]): string {
  const values = list.flatMap((s) => (s.cpuUs === undefined ? [] : [s.cpuUs]))
  return values.length > 0 ? spreadText(spread(values), (v) => `${v.toFixed(0)} µs`) : '–'
}

function millis(ms: number): string {
  return ms < 1 ? '<1 ms' : `${Number.isInteger(ms) ? ms : ms.toFixed(1)} ms`
}

async function main(): Promise<void> {
  const started = performance.now()
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-edge-bench-'))
  try {
    const geo = await startCli([
      'start',
      '--geo',
      'g',
      '--store',
      'memory',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'g'),
      '--log-level',
      'warn',
    ])
    const front = await startCli([
      'edge',
      '--port',
      '0',
      '--geo',
      `g=${geo.url}`,
      '--log-level',
      'warn',
    ])
    const haproxy = await startHaproxy(geo.url, dir)
    const urls: Partial<Record<Kind, string>> = { gateway: geo.url, edge: front.url }
    // Whose CPU each target's requests are billed to: the geo for the floor, else the front door.
    const pids: Partial<Record<Kind, number | undefined>> = {
      gateway: geo.child.pid,
      edge: front.child.pid,
    }
    if (haproxy) {
      urls.haproxy = haproxy.url
      pids.haproxy = haproxy.pid
    }
    const kinds = (Object.keys(urls) as Kind[]).filter((k) => urls[k])
    for (const kind of kinds) {
      process.stderr.write(`warm-up ${kind}\n`)
      await load(urls[kind]!, WARMUP_SECONDS)
    }
    const samples: Record<Kind, Sample[]> = { gateway: [], edge: [], haproxy: [] }
    const sequential: Record<Kind, number[]> = { gateway: [], edge: [], haproxy: [] }
    for (let round = 0; round < ROUNDS; round++) {
      const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]!)
      for (const kind of order) {
        const sample = await load(urls[kind]!, SECONDS, pids[kind])
        samples[kind].push(sample)
        sequential[kind].push(await sequentialMedianMs(urls[kind]!))
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${kind}: ${rate(sample.throughput)} p50 ${sample.p50Ms} ms, sequential p50 ${sequential[kind].at(-1)!.toFixed(3)} ms\n`,
        )
      }
    }
    await Promise.all([geo.child, front.child].map(kill))
    const failovers: Array<{ firstElsewhereMs: number; failures: number }> = []
    for (let i = 0; i < FAILOVERS; i++) {
      failovers.push(await failover(join(dir, `failover-${i}`)))
      process.stderr.write(
        `failover ${i + 1}/${FAILOVERS}: ${failovers.at(-1)!.firstElsewhereMs.toFixed(0)} ms\n`,
      )
    }
    console.log(report(kinds, samples, sequential, failovers, (performance.now() - started) / 1000))
  } finally {
    for (const child of children) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

function report(
  kinds: readonly Kind[],
  samples: Record<Kind, Sample[]>,
  sequential: Record<Kind, number[]>,
  failovers: ReadonlyArray<{ firstElsewhereMs: number; failures: number }>,
  seconds: number,
): string {
  const floor = samples.gateway
  const rows = kinds.map((kind) => [
    LABELS[kind],
    spreadText(spread(samples[kind].map((s) => s.throughput)), (v) =>
      rate(v).replace('/s', ' req/s'),
    ),
    spreadText(spread(samples[kind].map((s, i) => s.throughput / floor[i]!.throughput)), percent),
    spreadText(spread(samples[kind].map((s) => s.p50Ms)), millis),
    spreadText(spread(samples[kind].map((s) => s.p99Ms)), millis),
    spreadText(spread(sequential[kind]), (v) => `${v.toFixed(3)} ms`),
    spreadText(
      spread(sequential[kind].map((v, i) => v - sequential.gateway[i]!)),
      (v) => `${(v * 1000).toFixed(0)} µs`,
    ),
    cpuText(samples[kind]),
    String(samples[kind].reduce((n, s) => n + s.failures, 0)),
  ])
  const ratio = spread(samples.edge.map((s, i) => s.throughput / floor[i]!.throughput))
  const added = spread(sequential.edge.map((v, i) => v - sequential.gateway[i]!))
  const times = failovers.map((f) => f.firstElsewhereMs).sort((a, b) => a - b)
  const failoverP50 = quantile(times, 0.5)
  const failoverP99 = quantile(times, 0.99)
  return [
    '## Edge: one address in front of the geos',
    '',
    `\`POST /v1/actors/counter/<id>/increment\` with \`${BODY}\` over ${IDS} ids, to one geo (a default node, memory ` +
      `store, in its own process) straight, through \`anywhere-node edge\` (its own process, probing the geo every 250 ms), ` +
      `and through HAProxy when installed, all in one run: autocannon with ${CONNECTIONS} connections, ${ROUNDS} rounds of ` +
      `${SECONDS} s each, rotating the order, after a ${WARMUP_SECONDS} s warm-up; then, per round and target, ` +
      `${SEQUENTIAL_REQUESTS} requests one at a time on one keep-alive connection (undici, timed with performance.now) for ` +
      `the latency each hop adds at µs resolution ("added" is that round's median minus the floor's). On this 2-core machine ` +
      `the geo, the front door and the load generator share both cores, so requests/s through a front door measures the ` +
      `front door's CPU cost as much as its design. Failover: two geos behind an edge, 2 workers sending keyed increments, ` +
      `kill -9 of the geo serving them; the time from the kill to the first request served by the other geo, over ` +
      `${failovers.length} runs (failed requests during them: ${failovers.reduce((n, f) => n + f.failures, 0)}). Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      [
        'target',
        'requests/s',
        'vs floor',
        'p50 (autocannon)',
        'p99 (autocannon)',
        'sequential p50',
        'added p50',
        'CPU per request',
        'non-2xx + errors',
      ],
      rows,
    ),
    '',
    table(
      ['failover after kill -9', 'p50', 'p99 (of the runs)', 'runs'],
      [
        [
          'first request served by the other geo',
          `${failoverP50.toFixed(0)} ms`,
          `${failoverP99.toFixed(0)} ms`,
          times.map((t) => t.toFixed(0)).join(', ') + ' ms',
        ],
      ],
    ),
    '',
    '### Goals (issue 9)',
    '',
    table(
      ['goal', 'measured: median (min–max)', 'met'],
      [
        [
          'edge ≥ 70% of the gateway’s requests/s',
          spreadText(ratio, percent),
          ratio.median >= 0.7 ? 'yes' : '**no**',
        ],
        [
          'added p50 latency < 1 ms on loopback',
          spreadText(added, (v) => `${(v * 1000).toFixed(0)} µs`),
          added.median < 1 ? 'yes' : '**no**',
        ],
        [
          'a down geo gets no new requests within 2 s',
          `${failoverP99.toFixed(0)} ms (p99 of the runs)`,
          failoverP99 < 2_000 ? 'yes' : '**no**',
        ],
      ],
    ),
  ].join('\n')
}

await main()
