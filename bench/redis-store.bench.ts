// Redis store append throughput against a floor measured in the same run, on a
// redis-server this script starts on a random port: pipelined raw XADD of the same
// member bytes the store writes, from an ioredis client in this process. Store and
// floor runs alternate; each row reports median and min–max of several runs.
//
//   node --import tsx bench/redis-store.bench.ts [--runs=N] [--events=N] [--concurrency=a,b]
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { silentLogger, systemClock, Taps } from '../core/index.js'
import {
  BENCH_ACTORS as ACTORS,
  BENCH_ORIGIN as ORIGIN,
  draftFor,
  withDeadline,
} from './support/store-workload.js'
import { redisStore } from '../stores/redis/index.js'
import { encodeMember } from '../stores/redis/encoding.js'
import {
  startRedisServer,
  stopAllRedisServers,
  type RedisServer,
} from '../test/support/redis-server.js'
import { percent, rate, spread, spreadText, table } from './support/stats.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const RUNS = Number(args.get('runs') ?? 7)
const EVENTS_PER_RUN = Number(args.get('events') ?? 15_000)
/** Concurrent appenders: each awaits its append before the next, like one client per actor. */
const CONCURRENCY = (args.get('concurrency') ?? '16,64').split(',').map(Number)

let runId = 0

/** `concurrency` appenders append one event at a time until `EVENTS_PER_RUN` are stored. */
async function runStore(url: string, concurrency: number): Promise<number> {
  const store = redisStore({ url, prefix: `bench:${runId++}:` })({
    clock: systemClock(),
    logger: silentLogger(),
    taps: new Taps(),
    nodeId: ORIGIN,
  })
  await store.start()
  try {
    let next = 0
    const started = performance.now()
    const appender = async () => {
      while (next < EVENTS_PER_RUN) await store.append([draftFor(next++)])
    }
    await withDeadline('a store run', Promise.all(Array.from({ length: concurrency }, appender)))
    return (EVENTS_PER_RUN * 1000) / (performance.now() - started)
  } finally {
    await store.stop()
  }
}

/**
 * The floor: the member bytes the store writes for each event, encoded up front, sent as
 * raw XADDs (explicit ids, like the store's) in pipelines of `concurrency` commands, each
 * pipeline awaited before the next. `withIndex` adds the ZADD of the same member, which
 * is everything the store writes per event without its checks, seqs and version vector.
 */
async function runFloor(client: Redis, concurrency: number, withIndex: boolean): Promise<number> {
  const prefix = `floor:${runId++}:`
  const members = Array.from({ length: EVENTS_PER_RUN }, (_, i) =>
    encodeMember({ ...draftFor(i), seq: i + 1 }),
  )
  const stream = `${prefix}origin:${ORIGIN}`
  const started = performance.now()
  await withDeadline(
    'a floor run',
    (async () => {
      for (let i = 0; i < EVENTS_PER_RUN; i += concurrency) {
        const pipeline = client.pipeline()
        for (let j = i; j < Math.min(i + concurrency, EVENTS_PER_RUN); j++) {
          pipeline.xadd(stream, `${j + 1}-0`, 'e', members[j]!)
          if (withIndex) pipeline.zadd(`${prefix}actor:7:counter:c${j % ACTORS}`, 0, members[j]!)
        }
        const results = await pipeline.exec()
        const failed = results?.find(([error]) => error)?.[0]
        if (failed) throw failed
      }
    })(),
  )
  return (EVENTS_PER_RUN * 1000) / (performance.now() - started)
}

interface Row {
  readonly store: number[]
  readonly xadd: number[]
  readonly xaddZadd: number[]
}

async function measure(server: RedisServer, concurrency: number): Promise<Row> {
  const client = new Redis(server.url, { maxRetriesPerRequest: 0 })
  try {
    await runStore(server.url, concurrency) // warm-up: JIT, script cache
    await runFloor(client, concurrency, true)
    const row: Row = { store: [], xadd: [], xaddZadd: [] }
    for (let run = 0; run < RUNS; run++) {
      await client.flushall()
      row.store.push(await runStore(server.url, concurrency))
      await client.flushall()
      row.xadd.push(await runFloor(client, concurrency, false))
      await client.flushall()
      row.xaddZadd.push(await runFloor(client, concurrency, true))
    }
    return row
  } finally {
    client.disconnect()
  }
}

function ratioText(store: number[], floor: number[]): string {
  const ratios = spread(store.map((s, i) => s / floor[i]!))
  return `${percent(ratios.median)} (${percent(ratios.min)}–${percent(ratios.max)})`
}

async function main(): Promise<void> {
  const started = performance.now()
  const rows: string[][] = []
  const configs = [
    { name: 'no persistence', options: {} },
    { name: 'AOF, appendfsync always', options: { appendfsync: 'always' as const } },
  ]
  try {
    for (const config of configs) {
      const server = await startRedisServer(config.options)
      try {
        for (const concurrency of CONCURRENCY) {
          const row = await measure(server, concurrency)
          rows.push([
            config.name,
            String(concurrency),
            spreadText(spread(row.store), rate),
            spreadText(spread(row.xadd), rate),
            ratioText(row.store, row.xadd),
            spreadText(spread(row.xaddZadd), rate),
            ratioText(row.store, row.xaddZadd),
          ])
        }
      } finally {
        await server.stop()
      }
    }
  } finally {
    await stopAllRedisServers()
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const lines = [
    '## Redis store: append throughput',
    '',
    '```',
    'node --import tsx bench/redis-store.bench.ts',
    '```',
    '',
    `Each run appends ${EVENTS_PER_RUN.toLocaleString('en')} events (a counter increment, ${ACTORS} actors) ` +
      'from N concurrent appenders, each awaiting its `append` (one Lua script call per group of ' +
      'appends that arrive together). The floor sends the same member bytes, encoded up front, as ' +
      'raw `XADD`s in pipelines of N commands from an ioredis client in the same process; the second ' +
      'floor adds the `ZADD` of the same member to the actor index, i.e. every write the store makes ' +
      'per event without its checks, seq allocation and version vector. Store and floor runs ' +
      `alternate; ${RUNS} runs each after one warm-up; median (min–max); ratios are per run. ` +
      'redis-server runs on this machine, started by the script on a random port.',
    '',
    table(
      [
        'redis-server',
        'appenders',
        'Redis store',
        'floor: pipelined XADD',
        'store / XADD floor',
        'floor: XADD + ZADD',
        'store / XADD+ZADD floor',
      ],
      rows,
    ),
    '',
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${seconds} s in all.`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

await main()
