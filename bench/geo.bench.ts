// A geo of several nodes on one Redis, in one run: requests/s of a command sent to a node that
// does not own its actor (forwarded inside the geo) against the same command sent to the
// owner (the floor); the cost of a placement lookup per request against a floor lookup (the
// Map get every request already does); and the failover time after kill -9 of an owner.
// Prints a markdown section.
//
//   node --expose-gc --import tsx bench/geo.bench.ts [--rounds=N] [--seconds=S] [--failovers=N]
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { memberSeed, rendezvousOwner } from '../core/index.js'
import {
  collectGarbage,
  percent,
  quantile,
  rate,
  spread,
  spreadText,
  table,
} from './support/stats.js'

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
const CONNECTIONS = 32
const IDS = 16
const LOOKUPS = 2_000_000
const BIN = fileURLToPath(new URL('../bin/anywhere-node.mjs', import.meta.url))
/** The nodes' membership timeout in the failover runs (the default). */
const TIMEOUT_MS = 3_000

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

interface Node {
  url: string
  nodeId: string
  child: ChildProcess
}

/** Starts `anywhere-node <args>` (from source) and resolves with its ready line. */
async function startCli(cliArgs: string[]): Promise<Node> {
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
      120_000,
    )
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const line = out.split('\n').find((l) => l.startsWith('{"event":"ready"'))
      if (line) {
        clearTimeout(timer)
        const ready = JSON.parse(line) as { http: string; nodeId: string }
        resolve({ url: ready.http, nodeId: ready.nodeId, child })
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

async function startRedis(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  )
  children.add(child)
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return { url, child }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error('redis-server did not start')
}

async function startMember(
  name: string,
  dir: string,
  redisUrl: string,
  prefix: string,
): Promise<Node> {
  return startCli([
    'start',
    '--geo',
    'g',
    '--port',
    '0',
    '--data-dir',
    join(dir, name),
    '--redis-url',
    redisUrl,
    '--redis-prefix',
    prefix,
    '--members',
    '--log-level',
    'warn',
  ])
}

async function geoView(
  node: Node,
  actor?: string,
): Promise<{ members: { nodeId: string }[]; owner?: string }> {
  const query = actor ? `?actor=${encodeURIComponent(actor)}` : ''
  return (await (await fetch(`${node.url}/v1/geo${query}`)).json()) as never
}

async function waitMembers(nodes: readonly Node[]): Promise<void> {
  const wanted = nodes
    .map((n) => n.nodeId)
    .sort()
    .join(',')
  for (let i = 0; i < 1_200; i++) {
    const views = await Promise.all(nodes.map((n) => geoView(n)))
    if (
      views.every(
        (v) =>
          v.members
            .map((m) => m.nodeId)
            .sort()
            .join(',') === wanted,
      )
    )
      return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the nodes did not see each other: ${wanted}`)
}

interface Sample {
  readonly throughput: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failures: number
}

async function load(url: string, ids: readonly string[], seconds: number): Promise<Sample> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: ids.map((id) => ({
      method: 'POST' as const,
      path: `/v1/actors/counter/${id}/increment`,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })),
  })
  return {
    throughput: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
  }
}

/** ns per lookup: rendezvous over `members` members, and the floor (a Map get by address). */
function lookupCost(members: number): { rendezvousNs: number; floorNs: number } {
  const list = Array.from({ length: members }, (_, i) => ({
    id: `g-${i}abc123`,
    seed: memberSeed(`g-${i}abc123`),
  }))
  const ids = Array.from({ length: 1_024 }, (_, i) => `actor-${i}`)
  const map = new Map(ids.map((id) => [`counter/${id}`, id]))
  let sink = 0
  collectGarbage()
  let started = performance.now()
  for (let i = 0; i < LOOKUPS; i++) sink += rendezvousOwner(list, 'counter', ids[i & 1023]!)!.length
  const rendezvousNs = ((performance.now() - started) * 1e6) / LOOKUPS
  collectGarbage()
  started = performance.now()
  for (let i = 0; i < LOOKUPS; i++) sink += map.get(`counter/${ids[i & 1023]!}`)!.length
  const floorNs = ((performance.now() - started) * 1e6) / LOOKUPS
  if (sink === 42) process.stderr.write('')
  return { rendezvousNs, floorNs }
}

/** kill -9 of the owner of an actor under load (2 workers through the others): ms to the first write served after it. */
async function failover(nodes: Node[], actor: string): Promise<{ ms: number; failures: number }> {
  const ownerId = (await geoView(nodes[0]!, `counter/${actor}`)).owner
  const owner = nodes.find((n) => n.nodeId === ownerId)!
  const others = nodes.filter((n) => n !== owner)
  let stop = false
  let killedAt = Number.POSITIVE_INFINITY
  let first = Number.NaN
  let failures = 0
  let served = 0
  const worker = async (w: number) => {
    for (let n = 0; !stop && n < 1_000_000; n++) {
      // Only a request sent after the kill counts: one sent before may have been served by the owner.
      const sentAt = performance.now()
      try {
        const response = await fetch(
          `${others[(w + n) % others.length]!.url}/v1/actors/counter/${actor}/increment`,
          {
            method: 'POST',
            body: '{}',
            signal: AbortSignal.timeout(30_000),
          },
        )
        await response.arrayBuffer()
        if (response.ok) {
          served++
          if (sentAt > killedAt && Number.isNaN(first)) first = performance.now()
        } else failures++
      } catch {
        failures++
      }
      if (!Number.isNaN(first)) stop = true
    }
  }
  const workers = [worker(0), worker(1)]
  for (let i = 0; i < 2_000 && served < 20; i++)
    await new Promise((resolve) => setTimeout(resolve, 10))
  killedAt = performance.now()
  await kill(owner.child)
  await Promise.all(workers)
  nodes.splice(nodes.indexOf(owner), 1)
  return { ms: first - killedAt, failures }
}

async function main(): Promise<void> {
  const started = performance.now()
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-geo-bench-'))
  try {
    const redis = await startRedis(dir)
    const a = await startMember('a', dir, redis.url, 'bench-rps:')
    const b = await startMember('b', dir, redis.url, 'bench-rps:')
    await waitMembers([a, b])
    // Actors that a owns: sent to a they are served there, sent to b they are forwarded to a.
    const ids: string[] = []
    for (let i = 0; ids.length < IDS && i < 10_000; i++)
      if ((await geoView(a, `counter/r-${i}`)).owner === a.nodeId) ids.push(`r-${i}`)
    for (const node of [a, b]) {
      process.stderr.write(`warm-up ${node === a ? 'owner' : 'non-owner'}\n`)
      await load(node.url, ids, WARMUP_SECONDS)
    }
    const owner: Sample[] = []
    const forwarded: Sample[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const order =
        round % 2 === 0 ? (['owner', 'forwarded'] as const) : (['forwarded', 'owner'] as const)
      for (const kind of order) {
        const sample = await load((kind === 'owner' ? a : b).url, ids, SECONDS)
        ;(kind === 'owner' ? owner : forwarded).push(sample)
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${kind}: ${rate(sample.throughput)} p50 ${sample.p50Ms} ms\n`,
        )
      }
    }
    await Promise.all([a, b].map((n) => kill(n.child)))
    const lookups = Array.from({ length: 5 }, () => lookupCost(3))
    const failovers: { ms: number; failures: number }[] = []
    const nodes: Node[] = []
    for (let i = 0; i < FAILOVERS; i++) {
      while (nodes.length < 3)
        nodes.push(await startMember(`f${i}-${nodes.length}`, dir, redis.url, 'bench-failover:'))
      await waitMembers(nodes)
      failovers.push(await failover(nodes, `failover-${i}`))
      process.stderr.write(
        `failover ${i + 1}/${FAILOVERS}: ${failovers.at(-1)!.ms.toFixed(0)} ms\n`,
      )
    }
    await Promise.all(nodes.map((n) => kill(n.child)))
    await kill(redis.child)
    console.log(report(owner, forwarded, lookups, failovers, (performance.now() - started) / 1000))
  } finally {
    for (const child of children) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

function report(
  owner: readonly Sample[],
  forwarded: readonly Sample[],
  lookups: readonly { rendezvousNs: number; floorNs: number }[],
  failovers: readonly { ms: number; failures: number }[],
  seconds: number,
): string {
  const ratio = spread(forwarded.map((s, i) => s.throughput / owner[i]!.throughput))
  const rows = [
    ['floor: sent to the owner', owner],
    ['sent to the other node (forwarded once to the owner)', forwarded],
  ].map(([label, list]) => {
    const samples = list as readonly Sample[]
    return [
      label as string,
      spreadText(spread(samples.map((s) => s.throughput)), (v) => rate(v).replace('/s', ' req/s')),
      spreadText(spread(samples.map((s, i) => s.throughput / owner[i]!.throughput)), percent),
      spreadText(spread(samples.map((s) => s.p50Ms)), (v) => `${v} ms`),
      spreadText(spread(samples.map((s) => s.p99Ms)), (v) => `${v} ms`),
      String(samples.reduce((n, s) => n + s.failures, 0)),
    ]
  })
  const perRequestNs = 1e9 / spread(owner.map((s) => s.throughput)).median
  const rendezvous = spread(lookups.map((l) => l.rendezvousNs))
  const floor = spread(lookups.map((l) => l.floorNs))
  const times = failovers.map((f) => f.ms).sort((x, y) => x - y)
  const [one, five, fifteen] = loadavg().map((v) => v.toFixed(2))
  return [
    '## Geo of several nodes: forwarding, placement, failover',
    '',
    `Two nodes of one geo (\`--members\`, Redis store on one redis-server without persistence, each node in its own ` +
      `process): \`POST /v1/actors/counter/<id>/increment\` over ${IDS} actors that node a owns, sent to a (the floor) and ` +
      `to b, which forwards each once to a over the geo channel (framed calls on one kept-alive TCP connection); autocannon, ${CONNECTIONS} ` +
      `connections, ${ROUNDS} rounds of ${SECONDS} s alternating the order, after a ${WARMUP_SECONDS} s warm-up each. ` +
      `Placement lookup: rendezvous over 3 members in-process, ${LOOKUPS} lookups, 5 runs, against a floor of one Map get ` +
      `by actor address (what every request already does to find its actor). Failover: 3 nodes (membership timeout ` +
      `${TIMEOUT_MS} ms, heartbeat 1 s), 2 workers writing one actor through the two non-owners, kill -9 of its owner; the ` +
      `time from the kill to the first write served after it, ${failovers.length} runs (failed requests during them: ` +
      `${failovers.reduce((n, f) => n + f.failures, 0)}). On this 2-core machine the nodes, Redis and the load generator ` +
      `share both cores. Load average at the end: ${one}, ${five}, ${fifteen}. Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(['target', 'requests/s', 'vs floor', 'p50', 'p99', 'non-2xx + errors'], rows),
    '',
    table(
      [
        'placement lookup',
        'ns per lookup',
        'vs floor (Map get)',
        'share of a request at the owner’s req/s',
      ],
      [
        [
          'rendezvous over 3 members',
          spreadText(rendezvous, (v) => v.toFixed(0)),
          `${(rendezvous.median / floor.median).toFixed(1)}×`,
          percent(rendezvous.median / perRequestNs),
        ],
        [
          'floor: Map get by address',
          spreadText(floor, (v) => v.toFixed(0)),
          '1×',
          percent(floor.median / perRequestNs),
        ],
      ],
    ),
    '',
    table(
      ['failover after kill -9', 'p50', 'p99 (of the runs)', 'runs'],
      [
        [
          'first write served by another node',
          `${quantile(times, 0.5).toFixed(0)} ms`,
          `${quantile(times, 0.99).toFixed(0)} ms`,
          times.map((t) => t.toFixed(0)).join(', ') + ' ms',
        ],
      ],
    ),
    '',
    '### Goals (issue 10)',
    '',
    table(
      ['goal', 'measured: median (min–max)', 'met'],
      [
        [
          'via a non-owner ≥ 50% of the owner’s requests/s',
          spreadText(ratio, percent),
          ratio.median >= 0.5 ? 'yes' : '**no**',
        ],
        [
          `failover within the membership timeout + 2 s (${TIMEOUT_MS + 2_000} ms)`,
          `${quantile(times, 0.99).toFixed(0)} ms (p99 of the runs)`,
          quantile(times, 0.99) <= TIMEOUT_MS + 2_000 ? 'yes' : '**no**',
        ],
      ],
    ),
  ].join('\n')
}

await main()
