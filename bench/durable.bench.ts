// The default node as a user runs it, against a durable HTTP floor and plain node:http, all
// loaded by autocannon in the same run. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/durable.bench.ts [--rounds=N] [--seconds=S] [--ids=1,16,1000]
//
// Servers, each its own process (autocannon runs here, so on a 2-core machine the server and
// the load generator each have a core; redis-server is a third process on the same cores):
// - plain `node:http` (bench/support/gateway-server.ts plain): parse, Map counter, reply;
// - the durable floor (gateway-server.ts durable): the same, replying once a line per request
//   is written and fdatasync'ed to a file, group-committed;
// - `anywhere-node` (the compiled bin, what `npx anywhere-node` runs) with no config: file
//   store, built-in counter; and the same on the Redis store, against a redis-server this
//   script starts on a random port with AOF `appendfsync everysec`, and another with `always`.
import type autocannon from 'autocannon'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  loadServer,
  millis,
  startServerProcess,
  type LoadSample,
  type ServerProcess,
} from './support/http-load.js'
import { percent, rate, spread, spreadText, table } from './support/stats.js'
import {
  hasRedisServer,
  startRedisServer,
  stopAllRedisServers,
  type RedisServer,
} from '../test/support/redis-server.js'
import { buildDist } from './support/build.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 3)
const SECONDS = Number(args.get('seconds') ?? 4)
const ID_COUNTS = (args.get('ids') ?? '1,16,1000').split(',').map(Number)
const WARMUP_SECONDS = 2
const CONNECTIONS = 50
const BODY = JSON.stringify({ by: 1 })

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const GATEWAY_SERVER = join(ROOT, 'bench', 'support', 'gateway-server.ts')
const BIN = join(ROOT, 'bin', 'anywhere-node.mjs')

type Kind = 'plain' | 'durable' | 'file' | 'redis-everysec' | 'redis-always'

const LABELS: Record<Kind, string> = {
  plain: 'plain `node:http` (parse body, Map counter, JSON reply)',
  durable: 'durable floor: plain `node:http` + a line per request, group commit + `fdatasync`',
  file: '`anywhere-node` (file store, the default)',
  'redis-everysec': '`anywhere-node --store redis`, AOF `appendfsync everysec`',
  'redis-always': '`anywhere-node --store redis`, AOF `appendfsync always`',
}

interface Target {
  readonly kind: Kind
  readonly url: string
  /** The processes whose CPU counts as the server's. */
  readonly pids: readonly (number | undefined)[]
  stop(): Promise<void>
}

async function startGatewayServer(kind: 'plain' | 'durable'): Promise<Target> {
  const server = await startServerProcess(
    ['--import', 'tsx', GATEWAY_SERVER, kind],
    (line) => typeof line.url === 'string',
  )
  return {
    kind,
    url: server.line.url as string,
    pids: [server.child.pid],
    stop: () => server.stop(),
  }
}

/** `anywhere-node` with no config file, as a user starts it, on a free port and a fresh data dir. */
async function startNode(kind: Kind, extra: readonly string[], redis?: RedisServer) {
  const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-bench-node-'))
  const env = { ...process.env }
  delete env.ANYWHERE_NODE_FROM_SOURCE
  delete env.NODE_OPTIONS
  let server: ServerProcess
  try {
    server = await startServerProcess(
      [BIN, 'start', '--port', '0', '--data-dir', dataDir, ...extra],
      (line) => line.event === 'ready',
      env,
    )
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }
  return {
    kind,
    url: server.line.http as string,
    pids: [server.child.pid, redis?.pid],
    async stop() {
      await server.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  } satisfies Target
}

async function startRedisNode(kind: 'redis-everysec' | 'redis-always'): Promise<Target> {
  const redis = await startRedisServer({
    appendfsync: kind === 'redis-always' ? 'always' : 'everysec',
  })
  try {
    const node = await startNode(kind, ['--store', 'redis', '--redis-url', redis.url], redis)
    return {
      ...node,
      async stop() {
        await node.stop()
        await redis.stop()
      },
    }
  } catch (error) {
    await redis.stop()
    throw error
  }
}

function requests(ids: number): autocannon.Request[] {
  return Array.from({ length: ids }, (_, i) => ({
    method: 'POST' as const,
    path: `/v1/actors/counter/bench-${i}/increment`,
    headers: { 'content-type': 'application/json' },
    body: BODY,
  }))
}

/** One increment by hand: every server must answer 200 with `{ value: <number> }` before it is loaded. */
async function checkAnswers(target: Target): Promise<void> {
  const response = await fetch(`${target.url}/v1/actors/counter/check/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
  })
  const body = (await response.json()) as { value?: unknown }
  if (response.status !== 200 || typeof body.value !== 'number')
    throw new Error(
      `${target.kind} answered ${response.status} ${JSON.stringify(body)} to an increment`,
    )
}

const load = (target: Target, ids: number, seconds: number) =>
  loadServer({
    url: target.url,
    requests: requests(ids),
    seconds,
    connections: CONNECTIONS,
    pids: target.pids,
  })

type Samples = Map<string, LoadSample[]>
const key = (kind: Kind, ids: number) => `${kind}/${ids}`

async function main(): Promise<void> {
  const started = performance.now()
  buildDist()
  const redis = hasRedisServer()
  if (!redis) process.stderr.write('redis-server is not on PATH: the Redis rows are skipped\n')
  const targets: Target[] = []
  const samples: Samples = new Map()
  try {
    targets.push(await startGatewayServer('plain'))
    targets.push(await startGatewayServer('durable'))
    targets.push(await startNode('file', []))
    if (redis) {
      targets.push(await startRedisNode('redis-everysec'))
      targets.push(await startRedisNode('redis-always'))
    }
    for (const target of targets) await checkAnswers(target)
    for (const target of targets) {
      process.stderr.write(`warm-up ${target.kind} (${WARMUP_SECONDS} s)\n`)
      await load(target, 1_000, WARMUP_SECONDS)
    }
    for (const ids of ID_COUNTS)
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate which server goes first, so none always runs right after the same other one.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!)
        for (const target of order) {
          const sample = await load(target, ids, SECONDS)
          const list = samples.get(key(target.kind, ids)) ?? []
          list.push(sample)
          samples.set(key(target.kind, ids), list)
          process.stderr.write(
            `${ids} ids, round ${round + 1}/${ROUNDS} ${target.kind}: ${rate(sample.throughput)} ` +
              `p50 ${millis(sample.p50Ms)} p99 ${millis(sample.p99Ms)}` +
              `${sample.serverCpuUs === undefined ? '' : ` server CPU ${sample.serverCpuUs.toFixed(1)} µs/req`}` +
              `${sample.non2xx + sample.errors > 0 ? ` (non-2xx ${sample.non2xx}, errors ${sample.errors})` : ''}\n`,
          )
        }
      }
  } finally {
    await Promise.all(targets.map((t) => t.stop()))
    await stopAllRedisServers()
  }
  const kinds = targets.map((t) => t.kind)
  console.log(report(samples, kinds, (performance.now() - started) / 1000))
}

function report(samples: Samples, kinds: readonly Kind[], seconds: number): string {
  const get = (kind: Kind, ids: number) => samples.get(key(kind, ids)) ?? []
  /** Round-by-round ratio of `kind`'s requests/s over `floor`'s at the same id count. */
  const ratio = (kind: Kind, floor: Kind, ids: number) => {
    const floorList = get(floor, ids)
    return spread(get(kind, ids).map((s, i) => s.throughput / floorList[i]!.throughput))
  }
  const rows = ID_COUNTS.flatMap((ids) =>
    kinds.map((kind) => {
      const list = get(kind, ids)
      const cpu = list.flatMap((s) => (s.serverCpuUs === undefined ? [] : [s.serverCpuUs]))
      return [
        ids.toLocaleString('en'),
        LABELS[kind],
        spreadText(spread(list.map((s) => s.throughput)), (v) => rate(v).replace('/s', ' req/s')),
        spreadText(ratio(kind, 'durable', ids), percent),
        spreadText(ratio(kind, 'plain', ids), percent),
        spreadText(spread(list.map((s) => s.p50Ms)), millis),
        spreadText(spread(list.map((s) => s.p99Ms)), millis),
        cpu.length > 0 ? spreadText(spread(cpu), (v) => `${v.toFixed(0)} µs`) : '–',
        String(list.reduce((n, s) => n + s.non2xx + s.errors, 0)),
      ]
    }),
  )
  const goals: string[][] = []
  const many = Math.max(...ID_COUNTS)
  if (ID_COUNTS.includes(1)) {
    const hot = get('file', 1)
    const spreadOut = get('file', many)
    const throughput = spread(hot.map((s, i) => s.throughput / spreadOut[i]!.throughput))
    const p99 = spread(hot.map((s, i) => s.p99Ms / Math.max(1, spreadOut[i]!.p99Ms)))
    goals.push(
      [
        `file store: one hot id ≥ 50% of the requests/s over ${many.toLocaleString('en')} ids`,
        spreadText(throughput, percent),
        throughput.median >= 0.5 ? 'yes' : '**no**',
      ],
      [
        `file store: one hot id's p99 within 2× of ${many.toLocaleString('en')} ids'`,
        spreadText(p99, (v) => `×${v.toFixed(2)}`),
        p99.median <= 2 ? 'yes' : '**no**',
      ],
    )
  }
  const node = ratio('file', 'durable', many)
  goals.push([
    `default node (file store), ${many.toLocaleString('en')} ids ≥ 60% of the durable floor`,
    spreadText(node, percent),
    node.median >= 0.6 ? 'yes' : '**no**',
  ])
  return [
    '## Durable: the default node against a durable HTTP floor',
    '',
    `\`POST /v1/actors/counter/<id>/increment\` with \`${BODY}\`, cycling over 1, 16 or 1,000 ids, loaded ` +
      `by autocannon with ${CONNECTIONS} connections (no pipelining) on 127.0.0.1. The durable floor is plain ` +
      '`node:http` that appends a line per request to a file and replies once a write + `fdatasync` holding ' +
      'it is done; lines arriving meanwhile go in the next write (group commit). The node is the compiled ' +
      '`anywhere-node start` with no config (what `npx anywhere-node` runs: built-in actors, file store, ' +
      'metrics on), a real child process on a free port; the Redis rows the same node with `--store redis` ' +
      'against a redis-server started here on a random port (AOF on, `appendfsync everysec` or `always`; its ' +
      "CPU is added to the node's). Each server is its own process, autocannon runs in this one. After a " +
      `${WARMUP_SECONDS} s warm-up each, ${ROUNDS} rounds of ${SECONDS} s per server and id count, rotating ` +
      'which server goes first. Median (min–max) over the rounds; the ratios are round by round at the same ' +
      'id count. Only 2xx responses count; latencies are autocannon\'s (1 ms resolution). "Server CPU" is ' +
      `user + system CPU per 2xx response (from /proc). Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      [
        'ids',
        'server',
        'requests/s',
        'vs durable floor',
        'vs plain',
        'p50',
        'p99',
        'server CPU / req',
        'non-2xx + errors',
      ],
      rows,
    ),
    '',
    '### Goals (issue 11)',
    '',
    table(['goal', 'measured: median (min–max)', 'met'], goals),
  ].join('\n')
}

await main()
