// What metrics cost: the same work with metrics on and off, interleaved in one run. Prints a
// markdown section.
//
//   node --expose-gc --import tsx bench/metrics.bench.ts [--rounds=N] [--seconds=S]
//
// (`--child=<workload>:<mode>` is how it runs one in-process measurement in a process of its own.)
//
// In process: the actor runtime (tell ping-pong, sequential asks, asks that persist one event)
// with its counters and the metered store, against the same runtime without them. Over HTTP:
// a node's gateway with metrics (request counter and histogram, runtime and store counters)
// against a node with `metrics.enabled: false`, each in its own process, loaded by autocannon.
import autocannon from 'autocannon'
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import {
  ActorRuntime,
  defineActor,
  HybridLogicalClock,
  RuntimeStats,
  silentLogger,
  systemClock,
  Taps,
  type AnyActorDefinition,
  type EventStore,
} from '../core/index.js'
import { MeteredStore, StoreStats } from '../node/metered-store.js'
import { nodeMetrics } from '../node/metrics.js'
import { memoryStore } from '../stores/memory/index.js'
import { collectGarbage, percent, rate, spread, spreadText, table } from './support/stats.js'
import { buildDist } from './support/build.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 9)
const SECONDS = Number(args.get('seconds') ?? 4)
/** `--only=tell,ask`: only these workloads (`gateway` included). */
const ONLY = args.get('only')?.split(',')
const PING_PONG_ROUND_TRIPS = 500_000
const ASKS = 150_000
const ASKS_WITH_EVENT = 60_000
const CONNECTIONS = 50
const IDS = 16
const RUN_DEADLINE_MS = 60_000
const SERVER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'support', 'gateway-server.ts')

type Mode = 'off' | 'on'
const MODES: readonly Mode[] = ['off', 'on']

/** Operations per second of one run: over wall time, and over this process's CPU time. */
interface Throughput {
  readonly wall: number
  readonly cpu: number
}

interface Workload {
  readonly name: string
  readonly title: string
  run(mode: Mode): Promise<Throughput>
}

const nInput = z.object({ n: z.number().int() })

/** A runtime with the memory store; with metrics, its counters, the metered store and a registry scraped once at the end. */
async function withRuntime(
  mode: Mode,
  actors: AnyActorDefinition[],
  work: (runtime: ActorRuntime) => Promise<void>,
  operations: number,
): Promise<Throughput> {
  const clock = systemClock()
  const taps = new Taps()
  const logger = silentLogger()
  const backend = memoryStore()({ clock, logger, taps, nodeId: 'bench' })
  const stats = mode === 'on' ? new RuntimeStats() : undefined
  const storeStats = mode === 'on' ? new StoreStats() : undefined
  const store: EventStore = storeStats ? new MeteredStore(backend, storeStats) : backend
  const runtime = new ActorRuntime(
    { actors },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps,
      logger,
      origin: 'bench',
      ...(stats ? { stats } : {}),
    },
  )
  await store.start()
  await runtime.start()
  try {
    const wall = performance.now()
    const cpu = process.cpuUsage()
    await work(runtime)
    const wallMs = performance.now() - wall
    const used = process.cpuUsage(cpu)
    const cpuMs = (used.user + used.system) / 1000
    const perSecond = { wall: (operations * 1000) / wallMs, cpu: (operations * 1000) / cpuMs }
    if (stats && storeStats) {
      // The counters did their job: the scrape shows every handled message.
      const metrics = nodeMetrics({
        app: 'bench',
        geo: 'bench',
        nodeId: 'bench',
        runtime,
        runtimeStats: stats,
        storeStats,
        taps,
      })
      const text = await metrics.registry.metrics()
      metrics.stop()
      const handled = [
        ...text.matchAll(/^anywhere_runtime_messages_handled_total\{[^}]*\} (\d+)$/gm),
      ]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0)
      if (handled < operations)
        throw new Error(`the scrape shows ${handled} handled messages, expected ${operations}`)
    }
    return perSecond
  } finally {
    await runtime.stop()
    await store.stop()
  }
}

function deadline(what: string): { finished: Promise<void>; done: () => void } {
  let done!: () => void
  let timer: NodeJS.Timeout | undefined
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve
    timer = setTimeout(() => reject(new Error(`${what} did not finish in time`)), RUN_DEADLINE_MS)
  }).finally(() => clearTimeout(timer))
  return { finished, done }
}

const echo = defineActor({
  type: 'echo',
  initialState: null,
  events: {},
  apply: (state) => state,
  commands: (command) => ({ ping: command(nInput, (_ctx, input) => input.n) }),
})

const recorder = defineActor({
  type: 'recorder',
  initialState: { count: 0 },
  events: { recorded: nInput },
  apply: (state) => ({ count: state.count + 1 }),
  commands: (command) => ({
    ping: command(nInput, (ctx, input) => {
      ctx.emit('recorded', { n: input.n })
      return input.n
    }),
  }),
})

const WORKLOADS: readonly Workload[] = [
  {
    name: 'tell',
    title: `tell ping-pong: two actors, ${PING_PONG_ROUND_TRIPS.toLocaleString('en')} round trips`,
    run: (mode) => {
      const { finished, done } = deadline('ping-pong')
      const player: AnyActorDefinition = defineActor({
        type: 'player',
        initialState: null,
        events: {},
        apply: (state) => state,
        commands: (command) => ({
          ping: command(nInput, (ctx, input) => {
            if (ctx.actorId === 'a') ctx.tell(player, 'b', 'ping', { n: input.n })
            else if (input.n === PING_PONG_ROUND_TRIPS) done()
            else ctx.tell(player, 'a', 'ping', { n: input.n + 1 })
          }),
        }),
      })
      return withRuntime(
        mode,
        [player],
        async (runtime) => {
          runtime.actor(player, 'a').tell('ping', { n: 1 })
          await finished
        },
        2 * PING_PONG_ROUND_TRIPS,
      )
    },
  },
  {
    name: 'ask',
    title: `ask, sequential: ${ASKS.toLocaleString('en')} asks to one actor, no events`,
    run: (mode) =>
      withRuntime(
        mode,
        [echo],
        async (runtime) => {
          const ref = runtime.actor(echo, 'e')
          for (let n = 0; n < ASKS; n++) await ref.ask('ping', { n })
        },
        ASKS,
      ),
  },
  {
    name: 'ask-event',
    title: `ask, sequential, one event per ask (memory store, persist before reply): ${ASKS_WITH_EVENT.toLocaleString('en')} asks`,
    run: (mode) =>
      withRuntime(
        mode,
        [recorder],
        async (runtime) => {
          const ref = runtime.actor(recorder, 'r')
          for (let n = 0; n < ASKS_WITH_EVENT; n++) await ref.ask('ping', { n })
        },
        ASKS_WITH_EVENT,
      ),
  },
]

// ---------------------------------------------------------------------------------------------
// The gateway, metrics on and off, each node in its own process.

interface Server {
  readonly mode: Mode
  readonly url: string
  readonly child: ChildProcessByStdio<Writable, Readable, null>
}

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

async function startServer(mode: Mode): Promise<Server> {
  const argv = [
    '--import',
    'tsx',
    SERVER_SCRIPT,
    'anywhere',
    ...(mode === 'off' ? ['no-metrics'] : []),
  ]
  const child = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] })
  children.add(child)
  const lines = createInterface({ input: child.stdout })
  const [line] = (await Promise.race([
    once(lines, 'line', { signal: AbortSignal.timeout(30_000) }),
    once(child, 'exit').then(([code]) => {
      throw new Error(`the ${mode} server exited with code ${String(code)} before listening`)
    }),
  ])) as [string]
  lines.close()
  const { url } = JSON.parse(line) as { url: string }
  return { mode, url, child }
}

async function stopServer(server: Server): Promise<void> {
  const exited = once(server.child, 'exit')
  server.child.stdin.end()
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
  children.delete(server.child)
}

/** User + system CPU seconds a process has used so far, from /proc (Linux: ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function loadGateway(server: Server, seconds: number): Promise<Throughput> {
  const cpuBefore = cpuSeconds(server.child.pid)
  const result = await autocannon({
    url: server.url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: Array.from({ length: IDS }, (_, i) => ({
      method: 'POST' as const,
      path: `/v1/actors/counter/bench-${i}/increment`,
      headers: { 'content-type': 'application/json' },
      body: '{"by":1}',
    })),
  })
  if (result.non2xx + result.errors > 0)
    throw new Error(`${server.mode}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  const cpu = cpuSeconds(server.child.pid) - cpuBefore
  return { wall: result['2xx'] / result.duration, cpu: result['2xx'] / cpu }
}

// ---------------------------------------------------------------------------------------------

/**
 * One in-process measurement in its own process: a warm-up run, then the measured one, both in
 * `mode`. A node runs one mode for its whole life; measuring both in one process would make
 * the JIT see both shapes of the runtime's hot code (stats present and absent) and charge the
 * mixture to whichever mode ran second.
 */
async function runInChild(workload: Workload, mode: Mode): Promise<Throughput> {
  const argv = [
    '--expose-gc',
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    `--child=${workload.name}:${mode}`,
  ]
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  try {
    const lines = createInterface({ input: child.stdout })
    const [line] = (await Promise.race([
      once(lines, 'line', { signal: AbortSignal.timeout(RUN_DEADLINE_MS) }),
      once(child, 'exit').then(([code]) => {
        throw new Error(`the ${workload.name} ${mode} run exited with code ${String(code)}`)
      }),
    ])) as [string]
    return JSON.parse(line) as Throughput
  } finally {
    child.kill('SIGKILL')
    children.delete(child)
  }
}

async function runChild(spec: string): Promise<void> {
  const [name, mode] = spec.split(':') as [string, Mode]
  const workload = WORKLOADS.find((w) => w.name === name)
  if (!workload || !MODES.includes(mode)) throw new Error(`no workload ${spec}`)
  await workload.run(mode)
  collectGarbage()
  console.log(JSON.stringify(await workload.run(mode)))
}

async function main(): Promise<void> {
  const started = performance.now()
  buildDist()
  const results = new Map<string, Record<Mode, Throughput[]>>()
  for (const workload of WORKLOADS) {
    if (ONLY && !ONLY.includes(workload.name)) continue
    const samples: Record<Mode, Throughput[]> = { off: [], on: [] }
    results.set(workload.name, samples)
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? MODES : [...MODES].reverse()
      for (const mode of order) {
        const perSecond = await runInChild(workload, mode)
        samples[mode].push(perSecond)
        process.stderr.write(
          `${workload.name} round ${round + 1}/${ROUNDS} ${mode}: ${rate(perSecond.wall)} (CPU: ${rate(perSecond.cpu)})\n`,
        )
      }
    }
  }
  const gateway: Record<Mode, Throughput[]> = { off: [], on: [] }
  if (!ONLY || ONLY.includes('gateway')) await benchGateway(gateway)
  console.log(report(results, gateway, (performance.now() - started) / 1000))
}

async function benchGateway(gateway: Record<Mode, Throughput[]>): Promise<void> {
  const servers = [await startServer('off'), await startServer('on')]
  try {
    for (const server of servers) await loadGateway(server, 2)
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse()
      for (const server of order) {
        const perSecond = await loadGateway(server, SECONDS)
        gateway[server.mode].push(perSecond)
        process.stderr.write(
          `gateway round ${round + 1}/${ROUNDS} ${server.mode}: ${rate(perSecond.wall)} (server CPU: ${rate(perSecond.cpu)})\n`,
        )
      }
    }
    const text = await (await fetch(`${servers[1]!.url}/metrics`)).text()
    if (!/^anywhere_http_requests_total\{.*status="200".*\} [1-9]/m.test(text))
      throw new Error('the metrics node did not count its requests')
  } finally {
    await Promise.all(servers.map(stopServer))
  }
}

function report(
  results: Map<string, Record<Mode, Throughput[]>>,
  gateway: Record<Mode, Throughput[]>,
  seconds: number,
): string {
  const rows: string[][] = []
  const goals: string[][] = []
  const add = (title: string, samples: Record<Mode, Throughput[]>, unit: string) => {
    const ratio = spread(samples.on.map((on, i) => on.wall / samples.off[i]!.wall))
    const cpuRatio = spread(samples.on.map((on, i) => on.cpu / samples.off[i]!.cpu))
    const fmt = (v: number) => rate(v).replace('/s', ` ${unit}/s`)
    rows.push([
      title,
      spreadText(spread(samples.off.map((t) => t.wall)), fmt),
      spreadText(spread(samples.on.map((t) => t.wall)), fmt),
      spreadText(ratio, percent),
      spreadText(cpuRatio, percent),
    ])
    goals.push([
      `${title}: metrics on ≥ 95% of off`,
      `${spreadText(ratio, percent)}; CPU: ${percent(cpuRatio.median)}`,
      ratio.median >= 0.95 ? 'yes' : '**no**',
    ])
  }
  for (const workload of WORKLOADS) {
    const samples = results.get(workload.name)
    if (samples) add(workload.title, samples, 'ops')
  }
  if (gateway.on.length > 0)
    add(
      `gateway: \`POST /v1/actors/counter/<id>/increment\`, ${CONNECTIONS} connections, ${IDS} ids`,
      gateway,
      'req',
    )
  return [
    '## Metrics: the cost of keeping them',
    '',
    `The same work with metrics off and on, interleaved in this one run (the order alternates every round), ` +
      `${ROUNDS} rounds. Each in-process run is its own process (a warm-up run in the same mode, then the ` +
      `measured one), as a node runs one mode for its life: one process running both would make the JIT ` +
      `see both shapes of the hot code. Each gateway node is its own process too, warmed up for 2 s. "On" is what a node ` +
      `with \`metrics.enabled\` (the default) runs: per-actor-type counters bumped in place, handler latency ` +
      `timed on one command in 32, the metered store (a batch-size bucket per append, latency timed on one ` +
      `append in 32), the process metrics (CPU, memory, heap, event loop lag; read when scraped), and for the ` +
      `gateway a count and a latency bucket per response in the gateway's \`onSend\` hook. Each in-process run ` +
      `ends with a scrape that must show every handled message; the gateway run ends with a scrape of the ` +
      `metrics node. autocannon runs here. Median (min–max) over the ` +
      `rounds; the ratio is a round's "on" over its "off"; the CPU ratio is the same with operations per CPU-second (of the measuring process in process, of the server process for the gateway), which the other load on this shared machine disturbs less. Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(['workload', 'metrics off', 'metrics on', 'on / off', 'on / off, CPU'], rows),
    '',
    '### Goal (issue 13)',
    '',
    table(['goal', 'measured: median (min–max)', 'met'], goals),
  ].join('\n')
}

const childSpec = args.get('child')
await (childSpec ? runChild(childSpec) : main())
