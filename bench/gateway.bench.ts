// Commands through the HTTP gateway against a plain node:http server answering the same JSON,
// both loaded by autocannon in the same run. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/gateway.bench.ts [--rounds=N] [--seconds=S]
//
// Each server runs in its own child process; autocannon runs here, so on a 2-core machine the
// server and the load generator each have a core. Rounds alternate between the two servers.
import type autocannon from 'autocannon'
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { loadServer, millis, type LoadSample } from './support/http-load.js'
import { percent, rate, spread, spreadText, table } from './support/stats.js'
import { buildDist } from './support/build.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 5)
const SECONDS = Number(args.get('seconds') ?? 4)
const WARMUP_SECONDS = 2
const CONNECTIONS = 50
/** Requests cycle over this many counter ids. */
const IDS = 16
const BODY = JSON.stringify({ by: 1 })
/** A server must print its URL within this long. */
const START_TIMEOUT_MS = 30_000

const SERVER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'support', 'gateway-server.ts')

type Kind = 'plain' | 'fastify' | 'runtime' | 'anywhere-tally' | 'anywhere'

/** In report order. */
const KINDS: readonly Kind[] = ['plain', 'fastify', 'runtime', 'anywhere-tally', 'anywhere']

const LABELS: Record<Kind, string> = {
  plain: 'floor: plain `node:http` (parse body, Map counter, JSON reply)',
  fastify: 'reference: Fastify set up like the gateway, Map counter, no runtime',
  runtime:
    'ceiling: plain `node:http` asking the runtime directly, `counter.increment` (one event, memory store, no gateway)',
  'anywhere-tally': 'reference: Anywhere gateway, `tally.increment` (same input, emits no event)',
  anywhere: 'Anywhere gateway, `counter.increment` (one event, memory store)',
}

/** Which server process answers each kind, and the actor type its requests address. */
const TARGETS: Record<
  Kind,
  { server: 'plain' | 'fastify' | 'runtime' | 'anywhere'; actorType: string }
> = {
  plain: { server: 'plain', actorType: 'counter' },
  fastify: { server: 'fastify', actorType: 'counter' },
  runtime: { server: 'runtime', actorType: 'counter' },
  'anywhere-tally': { server: 'anywhere', actorType: 'tally' },
  anywhere: { server: 'anywhere', actorType: 'counter' },
}

interface Server {
  readonly kind: Kind
  readonly url: string
  readonly child: ChildProcessByStdio<Writable, Readable, null>
}

const children = new Set<Server['child']>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

async function startServer(kind: Kind): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, TARGETS[kind].server], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  children.add(child)
  const lines = createInterface({ input: child.stdout })
  const timeout = AbortSignal.timeout(START_TIMEOUT_MS)
  const [line] = (await Promise.race([
    once(lines, 'line', { signal: timeout }),
    once(child, 'exit').then(([code]) => {
      throw new Error(`the ${kind} server exited with code ${String(code)} before listening`)
    }),
  ])) as [string]
  lines.close()
  const { url } = JSON.parse(line) as { url: string }
  return { kind, url, child }
}

async function stopServer(server: Server): Promise<void> {
  const exited = once(server.child, 'exit')
  server.child.stdin.end()
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
  children.delete(server.child)
}

function requests(kind: Kind): autocannon.Request[] {
  return Array.from({ length: IDS }, (_, i) => ({
    method: 'POST' as const,
    path: `/v1/actors/${TARGETS[kind].actorType}/bench-${i}/increment`,
    headers: { 'content-type': 'application/json' },
    body: BODY,
  }))
}

/** One request by hand: both servers must answer 200 with `{ value: <number> }` before we load them. */
async function checkAnswers(server: Server): Promise<void> {
  const { actorType } = TARGETS[server.kind]
  const response = await fetch(`${server.url}/v1/actors/${actorType}/check/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
  })
  const body = (await response.json()) as { value?: unknown }
  if (response.status !== 200 || typeof body.value !== 'number')
    throw new Error(
      `the ${server.kind} server answered ${response.status} ${JSON.stringify(body)} to an increment`,
    )
}

type Sample = LoadSample

const load = (server: Server, seconds: number) =>
  loadServer({
    url: server.url,
    requests: requests(server.kind),
    seconds,
    connections: CONNECTIONS,
    pids: [server.child.pid],
  })

async function main(): Promise<void> {
  const started = performance.now()
  buildDist()
  const servers: Server[] = []
  for (const kind of KINDS) servers.push(await startServer(kind))
  try {
    for (const server of servers) await checkAnswers(server)
    for (const server of servers) {
      process.stderr.write(`warm-up ${server.kind} (${WARMUP_SECONDS} s)\n`)
      await load(server, WARMUP_SECONDS)
    }
    const samples: Record<Kind, Sample[]> = {
      plain: [],
      fastify: [],
      runtime: [],
      'anywhere-tally': [],
      anywhere: [],
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which server goes first, so none always runs right after the same other one.
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!)
      for (const server of order) {
        const sample = await load(server, SECONDS)
        samples[server.kind].push(sample)
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${server.kind}: ${rate(sample.throughput)} p99 ${millis(sample.p99Ms)}` +
            `${sample.serverCpuUs === undefined ? '' : ` server CPU ${sample.serverCpuUs.toFixed(1)} µs/req`}` +
            `${sample.non2xx + sample.errors > 0 ? ` (non-2xx ${sample.non2xx}, errors ${sample.errors})` : ''}\n`,
        )
      }
    }
    console.log(report(samples, (performance.now() - started) / 1000))
  } finally {
    await Promise.all(servers.map(stopServer))
  }
}

function report(samples: Record<Kind, Sample[]>, seconds: number): string {
  const floor = samples.plain
  const cpu = (list: readonly Sample[]) => {
    const values = list.flatMap((s) => (s.serverCpuUs === undefined ? [] : [s.serverCpuUs]))
    return values.length > 0 ? spreadText(spread(values), (v) => `${v.toFixed(1)} µs`) : '–'
  }
  /** The floor's CPU per request over this server's, round by round: capacity on a saturated core. */
  const cpuRatio = (list: readonly Sample[]) => {
    const values = list.flatMap((s, i) => {
      const floorCpu = floor[i]!.serverCpuUs
      return s.serverCpuUs === undefined || floorCpu === undefined ? [] : [floorCpu / s.serverCpuUs]
    })
    return values.length > 0 ? spreadText(spread(values), percent) : '–'
  }
  const rows = KINDS.map((kind) => {
    const list = samples[kind]
    const failures = list.reduce((n, s) => n + s.non2xx + s.errors, 0)
    return [
      LABELS[kind],
      spreadText(spread(list.map((s) => s.throughput)), (v) => rate(v).replace('/s', ' req/s')),
      spreadText(spread(list.map((s, i) => s.throughput / floor[i]!.throughput)), percent),
      spreadText(spread(list.map((s) => s.p50Ms)), millis),
      spreadText(spread(list.map((s) => s.p99Ms)), millis),
      cpu(list),
      cpuRatio(list),
      String(failures),
    ]
  })
  const ratio = spread(samples.anywhere.map((s, i) => s.throughput / floor[i]!.throughput))
  const ceiling = spread(samples.runtime.map((s, i) => s.throughput / floor[i]!.throughput))
  return [
    '## Gateway: commands over HTTP',
    '',
    `\`POST /v1/actors/<type>/<id>/increment\` with \`${BODY}\` (\`content-type: application/json\`), ` +
      `cycling over ${IDS} ids, loaded by autocannon with ${CONNECTIONS} connections (no pipelining) on ` +
      `127.0.0.1. Each server runs in its own process and autocannon in the benchmark's process, so on this ` +
      `2-core machine the server and the load generator each have a core. After a ${WARMUP_SECONDS} s warm-up ` +
      `of each, ${ROUNDS} rounds of ${SECONDS} s per server, rotating which goes first. Median (min–max) over ` +
      `the rounds; "vs floor" is a round's requests/s over the floor's in the same round. Only 2xx responses ` +
      `count. Latencies are autocannon's (1 ms resolution). "Server CPU" is the server process's user + system ` +
      `CPU time (from /proc, all its threads, GC included) per 2xx response; "vs floor, CPU" is the floor's ` +
      `CPU per request over this server's, i.e. the share of the floor's throughput it would reach with a ` +
      `core to itself. Unlike requests/s, these do not depend on whether the server or the load generator ` +
      `(one core, shared) is the bottleneck, nor much on other load on the machine: the goal is judged on ` +
      `requests/s as issue 2 states it, and the CPU figures say how far that ratio can be trusted. The Anywhere node is a default ` +
      `node with the memory store, running the compiled code (dist/, built first: what \`npx anywhere-node\` runs): each \`counter\` increment is validated, appends one event and folds it ` +
      `before the reply; \`tally\` (served by the same kind of node, in its own process) takes the same input ` +
      `and replies without emitting, so the gap between the two rows is the cost of persisting one event. ` +
      `The ceiling is the floor's own server with its Map counter replaced by \`runtime.ask('counter', id, 'increment', input)\` ` +
      `on such a node: the runtime's work for one command and nothing of the gateway (no Fastify, routing, hooks, ` +
      `metrics of requests), so no gateway on this runtime can pass it. Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      [
        'server',
        'requests/s',
        'vs floor',
        'p50 latency',
        'p99 latency',
        'server CPU per request',
        'vs floor, CPU',
        'non-2xx + errors',
      ],
      rows,
    ),
    '',
    '### Goal (issue 2)',
    '',
    table(
      ['goal', 'measured: median (min–max)', 'met'],
      [
        [
          'gateway ≥ 70% of plain `node:http` requests/s',
          spreadText(ratio, percent),
          ratio.median >= 0.7 ? 'yes' : '**no**',
        ],
        [
          'for comparison: the ceiling (no gateway) over the floor',
          spreadText(ceiling, percent),
          '',
        ],
      ],
    ),
  ].join('\n')
}

await main()
