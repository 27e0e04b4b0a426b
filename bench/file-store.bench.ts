// Durable append throughput of the file store against a floor measured in the same run:
// raw `fs` writes of the same encoded bytes, one fdatasync per batch of the same size.
// Store and floor runs alternate; each row reports median and min–max of several runs.
//
//   node --import tsx bench/file-store.bench.ts [--runs=N] [--events=N]
import { mkdtemp, open, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { EventDraft, EventRecord } from '../core/event.js'
import { silentLogger, systemClock, Taps } from '../core/index.js'
import { fileStore } from '../transports/file/index.js'
import { encodeEventBody } from '../transports/file/record-codec.js'
import { buildCommit, frameRecord } from '../transports/file/segment-format.js'
import { percent, rate, spread, spreadText, table } from './support/stats.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const RUNS = Number(args.get('runs') ?? 7)
const EVENTS_PER_RUN = Number(args.get('events') ?? 20_000)
/** Distinct actors the events are spread over. */
const ACTORS = 1_000
/** The benchmark gives up rather than hang if one run takes longer than this. */
const RUN_DEADLINE_MS = 30_000

/** One row: how many appenders, and at most how many events one commit may hold. */
interface Setup {
  /** Concurrent appenders: each awaits its append before the next, like one client each. */
  readonly appenders: number
  /** Caps a commit at this many events (through `maxCommitBytes`); default: no cap. */
  readonly eventsPerCommit?: number
}

const SETUPS: readonly Setup[] = [
  { appenders: 16 },
  { appenders: 128 },
  // More appenders than one commit holds: while one commit is written and fsynced, the
  // appenders of the previous one encode their next events (a busy server's shape).
  { appenders: 256, eventsPerCommit: 64 },
]

interface Measurement {
  readonly eventsPerSecond: number
  /** Events per fsync. */
  readonly batch: number
}

function draftFor(i: number): EventDraft {
  return {
    actorType: 'counter',
    actorId: `c${i % ACTORS}`,
    origin: 'node-bench',
    hlc: { wall: 1_700_000_000_000 + i, logical: 0 },
    type: 'incremented',
    payload: { by: 1 },
  }
}

async function withDeadline<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took over ${RUN_DEADLINE_MS} ms`)),
      RUN_DEADLINE_MS,
    )
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** The setup's appenders append one event at a time until `EVENTS_PER_RUN` are durable. */
async function runStore(setup: Setup): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-bench-store-'))
  const maxCommitBytes = setup.eventsPerCommit
    ? setup.eventsPerCommit * frameRecord(encodeEventBody({ ...draftFor(0), seq: 1 })).length
    : undefined
  const store = fileStore({ dir, maxCommitBytes })({
    clock: systemClock(),
    logger: silentLogger(),
    taps: new Taps(),
    nodeId: 'node-bench',
  })
  await store.start()
  try {
    const before = store.stats()
    let next = 0
    const started = performance.now()
    const appender = async () => {
      while (next < EVENTS_PER_RUN) await store.append([draftFor(next++)])
    }
    await withDeadline(
      'a store run',
      Promise.all(Array.from({ length: setup.appenders }, appender)),
    )
    const elapsed = performance.now() - started
    const fsyncs = store.stats().fsyncs - before.fsyncs
    return { eventsPerSecond: (EVENTS_PER_RUN * 1000) / elapsed, batch: EVENTS_PER_RUN / fsyncs }
  } finally {
    await store.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

/** The same records, framed as the store frames them, encoded up front; written `batch` at a time. */
async function runFloor(batch: number): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-bench-floor-'))
  const commits: Buffer[] = []
  for (let i = 0; i < EVENTS_PER_RUN; i += batch) {
    const frames: Buffer[] = []
    for (let j = i; j < Math.min(i + batch, EVENTS_PER_RUN); j++) {
      const record: EventRecord = { ...draftFor(j), seq: j + 1 }
      frames.push(frameRecord(encodeEventBody(record)))
    }
    commits.push(buildCommit(frames))
  }
  const handle = await open(join(dir, 'floor.log'), 'a')
  try {
    const started = performance.now()
    await withDeadline(
      'a floor run',
      (async () => {
        for (const commit of commits) {
          await handle.write(commit)
          await handle.datasync()
        }
      })(),
    )
    const elapsed = performance.now() - started
    return {
      eventsPerSecond: (EVENTS_PER_RUN * 1000) / elapsed,
      batch: EVENTS_PER_RUN / commits.length,
    }
  } finally {
    await handle.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const rows: string[][] = []
  const started = performance.now()
  for (const setup of SETUPS) {
    // Warm-up: JIT, page cache, disk.
    await runFloor(Math.round((await runStore(setup)).batch))
    const store: Measurement[] = []
    const floor: Measurement[] = []
    for (let run = 0; run < RUNS; run++) {
      const s = await runStore(setup)
      store.push(s)
      // The floor writes batches of the size the store just achieved.
      floor.push(await runFloor(Math.max(1, Math.round(s.batch))))
    }
    const storeRate = spread(store.map((m) => m.eventsPerSecond))
    const floorRate = spread(floor.map((m) => m.eventsPerSecond))
    const ratios = spread(store.map((s, i) => s.eventsPerSecond / floor[i]!.eventsPerSecond))
    const batch = spread(store.map((m) => m.batch))
    rows.push([
      String(setup.appenders),
      setup.eventsPerCommit ? `${setup.eventsPerCommit} events` : 'none',
      batch.median.toFixed(1),
      spreadText(storeRate, rate),
      spreadText(floorRate, rate),
      `${percent(ratios.median)} (${percent(ratios.min)}–${percent(ratios.max)})`,
    ])
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const lines = [
    '## File store: durable append throughput',
    '',
    '```',
    'node --import tsx bench/file-store.bench.ts',
    '```',
    '',
    `Each run appends ${EVENTS_PER_RUN.toLocaleString('en')} events (a counter increment, ${ACTORS} actors) ` +
      `from N concurrent appenders, each awaiting its append (it resolves after the fdatasync ` +
      `that covers it). The floor writes the same framed bytes, encoded up front, with one ` +
      `\`write\` and one \`fdatasync\` per batch of the batch size the store run before it reached. ` +
      `Store and floor runs alternate; ${RUNS} runs each after one warm-up pair; ` +
      `median (min–max); the ratio is per pair of runs.`,
    '',
    table(
      [
        'appenders',
        'commit cap',
        'events per fsync (store)',
        'file store',
        'floor (raw write + fdatasync)',
        'store / floor',
      ],
      rows,
    ),
    '',
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, temp dir ${tmpdir()}; ${seconds} s in all.`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

await main()
