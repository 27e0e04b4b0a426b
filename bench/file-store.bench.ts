// Durable append throughput of the file store against a floor measured in the same run:
// raw `fs` writes of the same encoded bytes, one fdatasync per batch of the same size (and,
// for reference, one O_DSYNC write per batch: how the store makes a commit durable).
// Store and floors alternate within each run; each row reports median and min–max of runs.
//
//   node --import tsx bench/file-store.bench.ts [--runs=N] [--events=N]
import { constants as fsConstants } from 'node:fs'
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { BENCH_ACTORS as ACTORS, draftFor, withDeadline } from './support/store-workload.js'
import { silentLogger, systemClock, Taps } from '../core/index.js'
import { fileStore, type FileEventStore } from '../stores/file/index.js'
import { encodeEventBody } from '../stores/file/record-codec.js'
import { buildCommit, frameRecord } from '../stores/file/segment-format.js'
import { percent, rate, spread, spreadText, table } from './support/stats.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const RUNS = Number(args.get('runs') ?? 7)
const EVENTS_PER_RUN = Number(args.get('events') ?? 20_000)
/** Store and floor alternate this many times within one run. */
const SLICES_PER_RUN = 5

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

type Side = 'store' | 'floor' | 'dsyncFloor'

interface Measurement {
  readonly eventsPerSecond: number
  /** Events per fsync. */
  readonly batch: number
}

/** A store and a floor file open side by side for one run, in fresh temp dirs. */
interface RunFiles {
  readonly store: FileEventStore
  /** Append-only file for the write + fdatasync floor. */
  readonly floor: FileHandle
  /** Append-only file opened with O_DSYNC for the reference floor. */
  readonly dsyncFloor: FileHandle
  readonly dirs: readonly string[]
}

async function openRun(setup: Setup): Promise<RunFiles> {
  const storeDir = await mkdtemp(join(tmpdir(), 'anywhere-bench-store-'))
  const floorDir = await mkdtemp(join(tmpdir(), 'anywhere-bench-floor-'))
  const maxCommitBytes = setup.eventsPerCommit
    ? setup.eventsPerCommit * frameRecord(encodeEventBody({ ...draftFor(0), seq: 1 })).length
    : undefined
  const store = fileStore({ dir: storeDir, maxCommitBytes })({
    clock: systemClock(),
    logger: silentLogger(),
    taps: new Taps(),
    nodeId: 'node-bench',
  })
  await store.start()
  const { O_WRONLY, O_CREAT, O_APPEND, O_DSYNC } = fsConstants
  return {
    store,
    floor: await open(join(floorDir, 'floor.log'), 'a'),
    dsyncFloor: await open(join(floorDir, 'dsync.log'), O_WRONLY | O_CREAT | O_APPEND | O_DSYNC),
    dirs: [storeDir, floorDir],
  }
}

async function closeRun(files: RunFiles): Promise<void> {
  await files.store.stop()
  await files.floor.close()
  await files.dsyncFloor.close()
  for (const dir of files.dirs) await rm(dir, { recursive: true, force: true })
}

/** The setup's appenders append events `from` to `from + count`, one at a time each. */
async function storeSlice(store: FileEventStore, setup: Setup, from: number, count: number) {
  const syncsBefore = store.stats().syncs
  let next = from
  const appender = async () => {
    while (next < from + count) await store.append([draftFor(next++)])
  }
  const started = performance.now()
  await withDeadline(
    'a store slice',
    Promise.all(Array.from({ length: setup.appenders }, appender)),
  )
  return { elapsedMs: performance.now() - started, syncs: store.stats().syncs - syncsBefore }
}

/**
 * The same events, framed as the store frames them and encoded up front, `batch` per
 * write; each write followed by fdatasync, or none needed when the file has O_DSYNC.
 */
async function floorSlice(
  floor: FileHandle,
  datasync: boolean,
  batch: number,
  from: number,
  count: number,
) {
  const commits: Buffer[] = []
  for (let i = from; i < from + count; i += batch) {
    const frames: Buffer[] = []
    for (let j = i; j < Math.min(i + batch, from + count); j++)
      frames.push(frameRecord(encodeEventBody({ ...draftFor(j), seq: j + 1 })))
    commits.push(buildCommit(frames))
  }
  const started = performance.now()
  await withDeadline(
    'a floor slice',
    (async () => {
      for (const commit of commits) {
        await floor.write(commit)
        if (datasync) await floor.datasync()
      }
    })(),
  )
  return { elapsedMs: performance.now() - started, syncs: commits.length }
}

/**
 * One run: store and floor alternate slice by slice (so a change in the disk's speed
 * hits both alike), each floor slice using the batch size of the store slice before it.
 */
async function measureRun(setup: Setup, events: number): Promise<Record<Side, Measurement>> {
  const files = await openRun(setup)
  try {
    const slice = Math.ceil(events / SLICES_PER_RUN)
    const totals = {
      store: { ms: 0, syncs: 0 },
      floor: { ms: 0, syncs: 0 },
      dsyncFloor: { ms: 0, syncs: 0 },
    }
    for (let from = 0; from < events; from += slice) {
      const count = Math.min(slice, events - from)
      const s = await storeSlice(files.store, setup, from, count)
      const batch = Math.max(1, Math.round(count / s.syncs))
      const f = await floorSlice(files.floor, true, batch, from, count)
      const d = await floorSlice(files.dsyncFloor, false, batch, from, count)
      for (const [side, m] of [
        ['store', s],
        ['floor', f],
        ['dsyncFloor', d],
      ] as const) {
        totals[side].ms += m.elapsedMs
        totals[side].syncs += m.syncs
      }
    }
    const measured = (side: Side): Measurement => ({
      eventsPerSecond: (events * 1000) / totals[side].ms,
      batch: events / totals[side].syncs,
    })
    return {
      store: measured('store'),
      floor: measured('floor'),
      dsyncFloor: measured('dsyncFloor'),
    }
  } finally {
    await closeRun(files)
  }
}

async function main(): Promise<void> {
  const rows: string[][] = []
  const started = performance.now()
  for (const setup of SETUPS) {
    await measureRun(setup, EVENTS_PER_RUN / 4) // warm-up: JIT, page cache, disk
    const runs: Array<Record<Side, Measurement>> = []
    for (let run = 0; run < RUNS; run++) runs.push(await measureRun(setup, EVENTS_PER_RUN))
    const rates = (side: Side) => spreadText(spread(runs.map((r) => r[side].eventsPerSecond)), rate)
    const ratio = (side: Side) => {
      const r = spread(runs.map((m) => m.store.eventsPerSecond / m[side].eventsPerSecond))
      return `${percent(r.median)} (${percent(r.min)}–${percent(r.max)})`
    }
    rows.push([
      String(setup.appenders),
      setup.eventsPerCommit ? `${setup.eventsPerCommit} events` : 'none',
      spread(runs.map((r) => r.store.batch)).median.toFixed(1),
      rates('store'),
      rates('floor'),
      ratio('floor'),
      rates('dsyncFloor'),
      ratio('dsyncFloor'),
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
      `to a fresh file store from N concurrent appenders, each awaiting its append (which ` +
      `resolves once the commit holding it is durable; the store writes its segment with ` +
      `O_DSYNC, one system call per commit). The floor writes the same events to a plain ` +
      `file: the same framed bytes, encoded before the clock starts, one \`write\` and one ` +
      `\`fdatasync\` per batch of the size the store reached (the issue's floor). For ` +
      `reference, the same writes to a file opened with O_DSYNC. Within a run the three ` +
      `alternate in ${SLICES_PER_RUN} slices, so drift in disk speed hits all alike. ` +
      `${RUNS} runs after a warm-up; median (min–max) over runs; ratios per run. The ` +
      `"commit cap" row has more appenders than one commit takes, so one commit's appenders ` +
      `encode their next events while the next commit is written.`,
    '',
    table(
      [
        'appenders',
        'commit cap',
        'events per commit',
        'file store',
        'floor: write + fdatasync',
        'store / floor',
        'O_DSYNC write',
        'store / O_DSYNC',
      ],
      rows,
    ),
    '',
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, temp dir ${tmpdir()}; ${seconds} s in all.`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

await main()
