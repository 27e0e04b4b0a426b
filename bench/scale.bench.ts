// Memory and recovery at scale on the file store. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/scale.bench.ts [--actors=N] [--events-per-actor=N]
//                                                       [--hot-events=N] [--runs=N] [--resident=N]
//                                                       [--data=<dir>: keep the data set there, reuse it]
//   npm run bench:scale   (the same through bench/run.ts, written into BENCHMARKS.md)
//
// 1. Writes actors × events-per-actor counter events (default 1M × 10) straight to a file
//    store, in appends of WRITE_BATCH events.
// 2. Each measurement then runs in a fresh child process (this script with --child=...), so
//    its time and memory are its own: the store's reopen with its index checkpoint and
//    without it (the checkpoint file removed: the whole log is replayed), with the node's
//    default `verify: 'all'` and with `verify: 'tail'`; the RSS and heap of a runtime on the
//    reopened store holding every actor in memory (each read once), then with every actor
//    evicted; the bytes the index holds per event and the runtime per idle actor.
// 3. One actor with hot-events events written through the runtime (so it snapshots as it
//    would in a node), then evicted: the time a read takes to rehydrate it from its
//    snapshot and the events after it, in a fresh runtime each run.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as Actors from '../actors/index.js'
import type * as Core from '../core/index.js'
import type { Clock, EventDraft } from '../core/index.js'
import type * as FileStore from '../stores/file/index.js'
import type { FileStoreInit } from '../stores/file/index.js'
import { collectGarbage, duration, spread, spreadText, table } from './support/stats.js'
import { buildDist } from './support/build.js'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
// Everything measured runs the compiled code (dist/, built by the parent first): what a node
// runs. Under tsx every closure carries a `name` property of its own (esbuild's keepNames),
// which made an idle actor's mailbox alone twice as large as it is in dist/.
const compiled = (path: string) => import(join(ROOT, 'dist', path))
if (!process.argv.some((arg) => arg.startsWith('--child='))) buildDist()
const { ActorRuntime, HybridLogicalClock, silentLogger, systemClock, Taps } = (await compiled(
  'core/index.js',
)) as typeof Core
const { counter } = (await compiled('actors/index.js')) as typeof Actors
const { CHECKPOINT_FILE, fileStore } = (await compiled('stores/file/index.js')) as typeof FileStore

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ACTORS = Number(args.get('actors') ?? 1_000_000)
const EVENTS_PER_ACTOR = Number(args.get('events-per-actor') ?? 10)
const HOT_EVENTS = Number(args.get('hot-events') ?? 10_000)
const RUNS = Number(args.get('runs') ?? 3)
/**
 * Actors the runtime rows load: each rehydration reads its events from the file (scattered
 * over the log, one read each), a few thousand actors a second here, so by default the
 * runtime's own bound on actors in memory, not all of them.
 */
const RESIDENT = Math.min(ACTORS, Number(args.get('resident') ?? 100_000))
/** A data set to keep (written there if it has no index checkpoint, else reused). */
const DATA = args.get('data')
const SAVED_CHECKPOINT = `${CHECKPOINT_FILE}.bench-saved`
/** Reopens without the checkpoint replay the whole log: this many runs of each. */
const REPLAY_RUNS = 1
const EVENTS = ACTORS * EVENTS_PER_ACTOR
/** Events per append while writing the data set. */
const WRITE_BATCH = 2_000
/** Reads of distinct actors under way at once while loading them all. */
const READ_CONCURRENCY = 256
/** Concurrent asks while writing the hot actor (its appends are pipelined). */
const HOT_CONCURRENCY = 64
const ORIGIN = 'scale-bench'
const SCRIPT = fileURLToPath(import.meta.url)
const GOAL_REOPEN_MS = 10_000
/** How long the runtime row waits, idle, after the last eviction before measuring again. */
const SETTLE_MS = 10_000
const GOAL_EVICTED_RSS = 2 ** 30

const components = () => ({
  clock: systemClock(),
  logger: silentLogger(),
  taps: new Taps(),
  nodeId: ORIGIN,
})

function draft(i: number): EventDraft {
  return {
    actorType: 'counter',
    actorId: `c${i % ACTORS}`,
    origin: ORIGIN,
    hlc: { wall: 1_700_000_000_000 + Math.floor(i / 16), logical: i % 16 },
    type: 'incremented',
    payload: { by: 1 },
  }
}

interface Memory {
  rss: number
  /** V8's heap in use plus memory outside it held by JS objects (typed arrays, buffers). */
  used: number
}

function memory(): Memory {
  collectGarbage()
  collectGarbage()
  const m = process.memoryUsage()
  return { rss: m.rss, used: m.heapUsed + m.external }
}

const bytes = (n: number) =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(0)} MiB`
      : `${n.toFixed(0)} B`

/** RSS, and (in brackets) what JS holds of it: heap in use + external. */
const mem = (m: Memory) => `${bytes(m.rss)} (JS: ${bytes(m.used)})`

// ---- child measurements ----------------------------------------------------------------

/** Opens the store in `dir` and reports how long start() took and what it holds. */
async function childReopen(dir: string, verify: 'all' | 'tail') {
  const before = memory()
  const store = fileStore({ dir, verify } satisfies FileStoreInit)(components())
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  await store.start()
  const ms = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const after = memory()
  const events = store.stats().events
  await store.stop()
  return {
    ms,
    // This thread and the others (libuv's reads, V8's GC helpers): the work a quiet machine would do.
    cpuMs: (cpu.user + cpu.system) / 1000,
    events,
    rss: after.rss,
    used: after.used,
    indexBytesPerEvent: (after.used - before.used) / events,
  }
}

/**
 * The system clock, held still while `frozen` (nothing goes idle while the actors load) and
 * then moved ahead by `skipMs` (all of them are idle at the next sweep).
 */
function steerableClock() {
  const system = systemClock()
  let frozenAt: number | undefined
  let skipMs = 0
  const clock: Clock = {
    now: () => frozenAt ?? system.now() + skipMs,
    setTimer: (ms, callback) => system.setTimer(ms, callback),
  }
  return {
    clock,
    freeze: () => (frozenAt = system.now()),
    skip: (ms: number) => {
      frozenAt = undefined
      skipMs += ms
    },
  }
}

/** A runtime on the reopened store: RESIDENT actors read once, then every one evicted. */
async function childActors(dir: string) {
  const { clock, freeze, skip } = steerableClock()
  const store = fileStore({ dir, verify: 'tail' })(components())
  await store.start()
  const runtime = new ActorRuntime(
    { actors: [counter], maxActorsInMemory: RESIDENT + 1, idleEvictMs: 2_000 },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps: new Taps(),
      logger: silentLogger(),
      origin: ORIGIN,
    },
  )
  await runtime.start()
  try {
    const opened = memory()
    let next = 0
    freeze()
    const started = performance.now()
    const reader = async () => {
      while (next < RESIDENT) {
        const value = (await runtime.actor(counter, `c${next++}`).state()) as { value: number }
        if (value.value !== EVENTS_PER_ACTOR)
          throw new Error(`an actor read ${JSON.stringify(value)}, not ${EVENTS_PER_ACTOR}`)
      }
    }
    await Promise.all(Array.from({ length: READ_CONCURRENCY }, reader))
    const loadMs = performance.now() - started
    const resident = runtime.actorsInMemory
    const loaded = memory()
    // The idle sweep runs every second and evicts what went unused for 2 s: all of them, now.
    const snapshotsFrom = store.stats().records
    skip(10_000)
    const deadline = Date.now() + 120_000
    while (runtime.actorsInMemory > 0) {
      if (Date.now() > deadline)
        throw new Error(`${runtime.actorsInMemory} actors still in memory after 120 s`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    // Each eviction saves the actor's snapshot: wait until the store has written them all.
    while (store.stats().records - snapshotsFrom < resident) {
      if (Date.now() > deadline)
        throw new Error(
          `${store.stats().records - snapshotsFrom} of ${resident} snapshots written after 120 s`,
        )
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const evicted = memory()
    // V8 and the allocator give memory back over the next seconds of quiet (V8's memory
    // reducer, freed pages unmapped): what an idle node holds, its actors all evicted.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const settled = memory()
    return {
      resident,
      loadMs,
      opened,
      loaded,
      evicted,
      settled,
      // Against the store just opened: eviction writes each actor's snapshot, which the index keeps.
      bytesPerActor: (loaded.used - opened.used) / resident,
    }
  } finally {
    await runtime.stop()
    await store.stop()
  }
}

/** A runtime on `dir`: the hot actor, evicted (a fresh runtime), read: how long the rehydration takes. */
async function childRehydrate(dir: string) {
  const clock = systemClock()
  const store = fileStore({ dir, verify: 'tail' })(components())
  await store.start()
  const times: number[] = []
  try {
    for (let run = 0; run < RUNS + 1; run++) {
      const runtime = new ActorRuntime(
        { actors: [counter] },
        {
          store,
          clock,
          hlc: new HybridLogicalClock(clock),
          taps: new Taps(),
          logger: silentLogger(),
          origin: ORIGIN,
        },
      )
      await runtime.start()
      const started = performance.now()
      const state = (await runtime.actor(counter, 'hot').state()) as { value: number }
      if (run > 0) times.push(performance.now() - started) // the first run warms the code up
      await runtime.stop()
      if (state.value !== HOT_EVENTS)
        throw new Error(`the hot actor read ${JSON.stringify(state)}, not ${HOT_EVENTS}`)
    }
    const snapshot = await store.loadSnapshot('counter', 'hot')
    return { times, snapshotAt: snapshot?.eventCount ?? 0 }
  } finally {
    await store.stop()
  }
}

// ---- the parent ----------------------------------------------------------------------

function child<T>(mode: string, dir: string, extra: readonly string[] = []): T {
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--max-old-space-size=8192',
      '--import',
      'tsx',
      SCRIPT,
      `--child=${mode}`,
      `--dir=${dir}`,
      `--actors=${ACTORS}`,
      `--events-per-actor=${EVENTS_PER_ACTOR}`,
      `--hot-events=${HOT_EVENTS}`,
      `--runs=${RUNS}`,
      `--resident=${RESIDENT}`,
      ...extra,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  )
  return JSON.parse(out.trim().split('\n').at(-1)!) as T
}

async function writeDataSet(dir: string): Promise<number> {
  const store = fileStore({ dir })(components())
  await store.start()
  const started = performance.now()
  try {
    for (let i = 0; i < EVENTS; i += WRITE_BATCH) {
      const batch: EventDraft[] = []
      for (let j = i; j < Math.min(EVENTS, i + WRITE_BATCH); j++) batch.push(draft(j))
      await store.append(batch)
      if (i % 1_000_000 === 0) process.stderr.write(`wrote ${i.toLocaleString('en')} events\n`)
    }
  } finally {
    await store.stop()
  }
  return performance.now() - started
}

async function writeHotActor(dir: string): Promise<void> {
  const clock = systemClock()
  const store = fileStore({ dir })(components())
  await store.start()
  const runtime = new ActorRuntime(
    { actors: [counter] },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps: new Taps(),
      logger: silentLogger(),
      origin: ORIGIN,
    },
  )
  await runtime.start()
  try {
    const ref = runtime.actor(counter, 'hot')
    let next = 0
    const asker = async () => {
      while (next++ < HOT_EVENTS) await ref.ask('increment', { by: 1 })
    }
    await Promise.all(Array.from({ length: HOT_CONCURRENCY }, asker))
  } finally {
    await runtime.stop()
    await store.stop()
  }
}

type Reopen = Awaited<ReturnType<typeof childReopen>>
type Actors = Awaited<ReturnType<typeof childActors>>
type Rehydrate = Awaited<ReturnType<typeof childRehydrate>>

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')

async function main(): Promise<void> {
  const started = performance.now()
  const loadAtStart = load()
  const dir = DATA ?? (await mkdtemp(join(tmpdir(), 'anywhere-scale-')))
  const hotDir = await mkdtemp(join(tmpdir(), 'anywhere-scale-hot-'))
  try {
    process.stderr.write(
      `writing ${EVENTS.toLocaleString('en')} events over ${ACTORS.toLocaleString('en')} actors\n`,
    )
    const reuse = DATA !== undefined && existsSync(join(DATA, CHECKPOINT_FILE))
    const writeMs = reuse ? Number.NaN : await writeDataSet(dir)
    const reopen: Record<string, Reopen[]> = { all: [], tail: [] }
    for (let run = 0; run < RUNS; run++)
      for (const verify of ['all', 'tail'] as const) {
        const r = child<Reopen>('reopen', dir, [`--verify=${verify}`])
        process.stderr.write(`reopen with checkpoint, verify ${verify}: ${duration(r.ms)}\n`)
        reopen[verify]!.push(r)
      }
    process.stderr.write('a runtime holding every actor, then none\n')
    const actors = child<Actors>('actors', dir)
    // Without the checkpoint, the store replays the whole log (and writes a new checkpoint
    // when it stops): the checkpoint is removed before each run.
    const noCheckpoint: Record<string, Reopen[]> = { all: [], tail: [] }
    // Kept aside and put back afterwards: a store that replayed everything writes no new one.
    await copyFile(join(dir, CHECKPOINT_FILE), join(dir, SAVED_CHECKPOINT))
    for (let run = 0; run < REPLAY_RUNS; run++)
      for (const verify of ['all', 'tail'] as const) {
        await rm(join(dir, CHECKPOINT_FILE), { force: true })
        const r = child<Reopen>('reopen', dir, [`--verify=${verify}`])
        process.stderr.write(`reopen without checkpoint, verify ${verify}: ${duration(r.ms)}\n`)
        noCheckpoint[verify]!.push(r)
      }
    await rename(join(dir, SAVED_CHECKPOINT), join(dir, CHECKPOINT_FILE))
    process.stderr.write(`the hot actor: ${HOT_EVENTS.toLocaleString('en')} events\n`)
    await writeHotActor(hotDir)
    const hot = child<Rehydrate>('rehydrate', hotDir)
    console.log(
      report(
        { writeMs, reopen, noCheckpoint, actors, hot, loads: [loadAtStart, load()] },
        (performance.now() - started) / 1000,
      ),
    )
  } finally {
    if (DATA === undefined) await rm(dir, { recursive: true, force: true })
    await rm(hotDir, { recursive: true, force: true })
  }
}

function report(
  r: {
    writeMs: number
    reopen: Record<string, Reopen[]>
    noCheckpoint: Record<string, Reopen[]>
    actors: Actors
    hot: Rehydrate
    /** Load averages (1, 5, 15 min) at the start and at the end. */
    loads: [string, string]
  },
  seconds: number,
): string {
  const ms = (list: readonly Reopen[]) =>
    `${spreadText(spread(list.map((x) => x.ms)), duration)}; CPU ${spreadText(
      spread(list.map((x) => x.cpuMs)),
      duration,
    )}`
  const withCheckpoint = spread(r.reopen.all!.map((x) => x.ms))
  const perEvent = spread(r.reopen.tail!.map((x) => x.indexBytesPerEvent))
  const events = EVENTS.toLocaleString('en')
  const actors = ACTORS.toLocaleString('en')
  return [
    '## Scale: memory and recovery of the file store',
    '',
    `${events} counter events over ${actors} actors (${EVENTS_PER_ACTOR} each), written straight to a file ` +
      `store in appends of ${WRITE_BATCH.toLocaleString('en')} events` +
      `${Number.isNaN(r.writeMs) ? ' (a data set kept from an earlier run)' : ` (${duration(r.writeMs)})`}. Each ` +
      'measurement runs in a fresh child process. Reopen is `start()` of the store; "verify all" (the ' +
      'default) re-reads and checks every commit, "verify tail" only those after the index checkpoint. ' +
      '"Index bytes per event": heap + external memory after the reopen over the baseline, per event. The ' +
      `runtime rows read ${RESIDENT.toLocaleString('en')} actors once (state through its mailbox, ` +
      `rehydrated from the store; ${READ_CONCURRENCY} reads under way; the runtime's clock held still ` +
      'meanwhile), then move its clock ahead so that the idle sweep evicts them all, and wait until the ' +
      'store has written the snapshot each eviction saves. "Bytes per idle actor": heap + external ' +
      'memory with the actors in memory over the store just opened, per actor. "JS" is heap in use + ' +
      'external memory, after a full GC: the rest of RSS is memory V8 and the allocator keep after the ' +
      `peak, which they give back over the next seconds of quiet (hence a second measure ${SETTLE_MS / 1000} s ` +
      'later). Everything measured runs the compiled code (dist/, what a node runs). Reopens without the checkpoint: ' +
      `${REPLAY_RUNS} run each. ` +
      `Rehydrate: one actor with ${HOT_EVENTS.toLocaleString('en')} events written through ` +
      `the runtime (${HOT_CONCURRENCY} asks under way; it snapshots every 256 events by default), read ` +
      `by a fresh runtime: ${RUNS} runs after a warm-up. Median (min–max) over ${RUNS} runs where there ` +
      `are runs. The wall times of reopens depend on the other load on the machine (load average ` +
      `${r.loads[0]} at the start, ${r.loads[1]} at the end, on ${cpus().length} cores); their CPU time ` +
      `(every thread of the process) much less. Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      ['measure', 'measured'],
      [
        [`reopen ${events} events, with the index checkpoint, verify all`, ms(r.reopen.all!)],
        [`reopen ${events} events, with the index checkpoint, verify tail`, ms(r.reopen.tail!)],
        [`reopen ${events} events, no checkpoint, verify all`, ms(r.noCheckpoint.all!)],
        [`reopen ${events} events, no checkpoint, verify tail`, ms(r.noCheckpoint.tail!)],
        ['RSS after the reopen (verify tail)', mem(r.reopen.tail![0]!)],
        ['index bytes per event', spreadText(perEvent, (v) => `${v.toFixed(1)} B`)],
        [
          `runtime: read ${RESIDENT.toLocaleString('en')} actors (${r.actors.resident.toLocaleString('en')} held)`,
          duration(r.actors.loadMs),
        ],
        ['RSS, store open, no actor in memory', mem(r.actors.opened)],
        [`RSS, ${r.actors.resident.toLocaleString('en')} actors in memory`, mem(r.actors.loaded)],
        [
          'RSS after every actor was evicted (once the last snapshot is written)',
          mem(r.actors.evicted),
        ],
        [
          `RSS after every actor was evicted, ${SETTLE_MS / 1000} s later (idle)`,
          mem(r.actors.settled),
        ],
        ['bytes per idle actor in memory', `${r.actors.bytesPerActor.toFixed(0)} B`],
        [`(so ${actors} actors in memory would add)`, bytes(r.actors.bytesPerActor * ACTORS)],
        [
          `rehydrate an evicted actor of ${HOT_EVENTS.toLocaleString('en')} events (snapshot at event ${r.hot.snapshotAt.toLocaleString('en')})`,
          spreadText(spread(r.hot.times), duration),
        ],
      ],
    ),
    '',
    '### Goals (issue 11)',
    '',
    table(
      ['goal', 'measured', 'met'],
      [
        [
          `reopen of ${events} events with a valid index checkpoint < 10 s (default verify all)`,
          ms(r.reopen.all!),
          withCheckpoint.median < GOAL_REOPEN_MS ? 'yes' : '**no**',
        ],
        [
          'RSS < 1 GiB with every actor evicted (once the last snapshot is written)',
          bytes(r.actors.evicted.rss),
          r.actors.evicted.rss < GOAL_EVICTED_RSS ? 'yes' : '**no**',
        ],
        [
          `RSS < 1 GiB with every actor evicted, ${SETTLE_MS / 1000} s later (idle)`,
          bytes(r.actors.settled.rss),
          r.actors.settled.rss < GOAL_EVICTED_RSS ? 'yes' : '**no**',
        ],
      ],
    ),
  ].join('\n')
}

const mode = args.get('child')
if (mode !== undefined) {
  const dir = args.get('dir')!
  const verify = args.get('verify') === 'all' ? 'all' : 'tail'
  const result =
    mode === 'reopen'
      ? await childReopen(dir, verify)
      : mode === 'actors'
        ? await childActors(dir)
        : await childRehydrate(dir)
  process.stdout.write(JSON.stringify(result) + '\n')
} else await main()
