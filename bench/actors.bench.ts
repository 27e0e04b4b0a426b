// In-process actor messaging: Anywhere's runtime against a bare array-queue mailbox (the
// floor), nact 7 and xstate 5, interleaved in one process. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/actors.bench.ts [--rounds=N] [--only=<workload>] [--contenders=a,b]
import { performance } from 'node:perf_hooks'
import { dispatch, query, spawn, start as startNact, stop as stopNact, type Ref } from 'nact'
import { createActor, fromTransition, type AnyActorRef } from 'xstate'
import { z } from 'zod'
import {
  ActorRuntime,
  defineActor,
  HybridLogicalClock,
  silentLogger,
  systemClock,
  Taps,
  type AnyActorDefinition,
} from '../core/index.js'
import { BareMailbox, bareAsk, type BareMessage } from './support/bare-mailbox.js'
import {
  collectGarbage,
  duration,
  p99,
  percent,
  rate,
  spread,
  spreadText,
  table,
  type Spread,
} from './support/stats.js'
import { memoryStore } from '../stores/memory/index.js'

const PING_PONG_ROUND_TRIPS = 200_000
const ASKS_SEQUENTIAL = 50_000
const ASKS_WINDOWED = 100_000
const ASK_WINDOW = 100
const FAN_OUT_MESSAGES = 1_000_000
const FAN_OUT_ACTORS = 1_000
/** No single workload run may take longer than this: a lost message fails the run instead of hanging it. */
const RUN_DEADLINE_MS = 60_000

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 5)
const WARMUP_ROUNDS = 1

/** What one run of one workload measured. */
interface Measurement {
  /** Messages (tell) or asks (ask) completed. */
  readonly operations: number
  readonly elapsedMs: number
  /** CPU time of this process (user + system, all threads) over the same span. */
  readonly cpuMs: number
  /** Per-ask latencies in ms, for ask workloads. */
  readonly latencies?: Float64Array
}

type Run = () => Promise<Measurement>

type WorkloadName = 'ping-pong-tell' | 'ping-pong-ask' | 'ask-window' | 'fan-out-tell'

interface Workload {
  readonly name: WorkloadName
  readonly title: string
  readonly unit: 'messages' | 'asks'
}

const WORKLOADS: readonly Workload[] = [
  {
    name: 'ping-pong-tell',
    title: `Ping-pong by tell: two actors, ${PING_PONG_ROUND_TRIPS.toLocaleString('en')} round trips (A tells B, B tells A)`,
    unit: 'messages',
  },
  {
    name: 'ping-pong-ask',
    title: `Ping-pong by ask, sequential: a driver asks one actor ${ASKS_SEQUENTIAL.toLocaleString('en')} times, awaiting each reply`,
    unit: 'asks',
  },
  {
    name: 'ask-window',
    title: `Ask with ${ASK_WINDOW} outstanding: ${ASKS_WINDOWED.toLocaleString('en')} asks to one actor, ${ASK_WINDOW} in flight at any time`,
    unit: 'asks',
  },
  {
    name: 'fan-out-tell',
    title: `Fan-out by tell: ${FAN_OUT_MESSAGES.toLocaleString('en')} messages over ${FAN_OUT_ACTORS.toLocaleString('en')} actors, completion when the last one is handled`,
    unit: 'messages',
  },
]

interface Contender {
  readonly name: string
  readonly label: string
  readonly runs: Partial<Record<WorkloadName, Run>>
}

/** A promise that `done()` resolves, failing after RUN_DEADLINE_MS so a lost message cannot hang the run. */
function completion(what: string): { finished: Promise<void>; done: () => void } {
  let done!: () => void
  let timer: NodeJS.Timeout | undefined
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve
    timer = setTimeout(
      () => reject(new Error(`${what} did not complete within ${RUN_DEADLINE_MS} ms`)),
      RUN_DEADLINE_MS,
    )
  }).finally(() => clearTimeout(timer))
  return { finished, done }
}

/** A sequential ask loop: each ask's latency, and the total elapsed time. */
async function askSequentially(
  count: number,
  ask: (n: number) => Promise<unknown>,
): Promise<Measurement> {
  const latencies = new Float64Array(count)
  const started = stopwatch()
  for (let i = 0; i < count; i++) {
    const sent = performance.now()
    await ask(i)
    latencies[i] = performance.now() - sent
  }
  return { operations: count, ...started(), latencies }
}

/** `count` asks with `window` of them in flight at any time (each of `window` loops sends its next ask when its last is answered). */
async function askWindowed(
  count: number,
  window: number,
  ask: (n: number) => Promise<unknown>,
): Promise<Measurement> {
  const latencies = new Float64Array(count)
  let next = 0
  const loop = async () => {
    while (next < count) {
      const i = next++
      const sent = performance.now()
      await ask(i)
      latencies[i] = performance.now() - sent
    }
  }
  const started = stopwatch()
  await Promise.all(Array.from({ length: window }, loop))
  return { operations: count, ...started(), latencies }
}

async function timed(operations: number, work: () => Promise<void>): Promise<Measurement> {
  const started = stopwatch()
  await work()
  return { operations, ...started() }
}

/** Starts measuring; the returned function reads the wall and CPU time elapsed since. */
function stopwatch(): () => { elapsedMs: number; cpuMs: number } {
  const wall = performance.now()
  const cpu = process.cpuUsage()
  return () => {
    const elapsedMs = performance.now() - wall
    const used = process.cpuUsage(cpu)
    return { elapsedMs, cpuMs: (used.user + used.system) / 1000 }
  }
}

// ---------------------------------------------------------------------------------------------
// The floor: a bare array-queue mailbox, no validation, no persistence.

function floorContender(): Contender {
  return {
    name: 'floor',
    label: 'floor: bare array-queue mailbox',
    runs: {
      'ping-pong-tell': () => {
        const { finished, done } = completion('floor ping-pong')
        const a: BareMailbox<BareMessage> = new BareMailbox((m) =>
          b.enqueue({ command: 'ping', input: { n: m.input.n } }),
        )
        const b: BareMailbox<BareMessage> = new BareMailbox((m) => {
          if (m.input.n === PING_PONG_ROUND_TRIPS) done()
          else a.enqueue({ command: 'ping', input: { n: m.input.n + 1 } })
        })
        return timed(2 * PING_PONG_ROUND_TRIPS, () => {
          a.enqueue({ command: 'ping', input: { n: 1 } })
          return finished
        })
      },
      'ping-pong-ask': () => {
        const echo = new BareMailbox<BareMessage>((m) => m.resolve?.(m.input.n))
        return askSequentially(ASKS_SEQUENTIAL, (n) => bareAsk(echo, 'ping', n))
      },
      'ask-window': () => {
        const echo = new BareMailbox<BareMessage>((m) => m.resolve?.(m.input.n))
        return askWindowed(ASKS_WINDOWED, ASK_WINDOW, (n) => bareAsk(echo, 'ping', n))
      },
      'fan-out-tell': () => {
        const { finished, done } = completion('floor fan-out')
        let remaining = FAN_OUT_MESSAGES
        const sinks = Array.from(
          { length: FAN_OUT_ACTORS },
          () =>
            new BareMailbox<BareMessage>(() => {
              if (--remaining === 0) done()
            }),
        )
        return timed(FAN_OUT_MESSAGES, () => {
          for (let i = 0; i < FAN_OUT_MESSAGES; i++)
            sinks[i % FAN_OUT_ACTORS]!.enqueue({ command: 'hit', input: { n: i } })
          return finished
        })
      },
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Anywhere: the real runtime with the memory store, used through its public API.

const nInput = z.object({ n: z.number().int() })

async function startRuntime(actors: AnyActorDefinition[]) {
  const clock = systemClock()
  const taps = new Taps()
  const logger = silentLogger()
  const store = memoryStore()({ clock, logger, taps, nodeId: 'bench' })
  const runtime = new ActorRuntime(
    { actors },
    { store, clock, hlc: new HybridLogicalClock(clock), taps, logger, origin: 'bench' },
  )
  await store.start()
  await runtime.start()
  return {
    runtime,
    async stop() {
      await runtime.stop()
      await store.stop()
    },
  }
}

/** Runs `work` against a fresh runtime serving `actors`, and stops it whatever happens. */
async function withRuntime(
  actors: AnyActorDefinition[],
  work: (runtime: ActorRuntime) => Promise<Measurement>,
): Promise<Measurement> {
  const node = await startRuntime(actors)
  try {
    return await work(node.runtime)
  } finally {
    await node.stop()
  }
}

/** An actor that replies with its input's `n` and emits nothing: pure messaging. */
const echo = defineActor({
  type: 'echo',
  initialState: null,
  events: {},
  apply: (state) => state,
  commands: (command) => ({ ping: command(nInput, (_ctx, input) => input.n) }),
})

/** An actor that emits one event per message, persisted before the reply. */
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

function anywhereContender(): Contender {
  return {
    name: 'anywhere',
    label: 'Anywhere runtime (no events)',
    runs: {
      'ping-pong-tell': () => {
        const { finished, done } = completion('anywhere ping-pong')
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
        return withRuntime([player], (runtime) =>
          timed(2 * PING_PONG_ROUND_TRIPS, () => {
            runtime.actor(player, 'a').tell('ping', { n: 1 })
            return finished
          }),
        )
      },
      'ping-pong-ask': () =>
        withRuntime([echo], (runtime) => {
          const ref = runtime.actor(echo, 'e')
          return askSequentially(ASKS_SEQUENTIAL, (n) => ref.ask('ping', { n }))
        }),
      'ask-window': () =>
        withRuntime([echo], (runtime) => {
          const ref = runtime.actor(echo, 'e')
          return askWindowed(ASKS_WINDOWED, ASK_WINDOW, (n) => ref.ask('ping', { n }))
        }),
      'fan-out-tell': () => {
        const { finished, done } = completion('anywhere fan-out')
        let remaining = FAN_OUT_MESSAGES
        const sink = defineActor({
          type: 'sink',
          initialState: null,
          events: {},
          apply: (state) => state,
          commands: (command) => ({
            hit: command(nInput, () => {
              if (--remaining === 0) done()
            }),
          }),
        })
        return withRuntime([sink], (runtime) => {
          const refs = Array.from({ length: FAN_OUT_ACTORS }, (_, i) =>
            runtime.actor(sink, String(i)),
          )
          return timed(FAN_OUT_MESSAGES, () => {
            for (let i = 0; i < FAN_OUT_MESSAGES; i++)
              refs[i % FAN_OUT_ACTORS]!.tell('hit', { n: i })
            return finished
          })
        })
      },
    },
  }
}

function anywhereWithEventsContender(): Contender {
  return {
    name: 'anywhere-events',
    label: 'Anywhere runtime, one event per message (memory store, persist before reply)',
    runs: {
      'ping-pong-ask': () =>
        withRuntime([recorder], (runtime) => {
          const ref = runtime.actor(recorder, 'r')
          return askSequentially(ASKS_SEQUENTIAL, (n) => ref.ask('ping', { n }))
        }),
      'ask-window': () =>
        withRuntime([recorder], (runtime) => {
          const ref = runtime.actor(recorder, 'r')
          return askWindowed(ASKS_WINDOWED, ASK_WINDOW, (n) => ref.ask('ping', { n }))
        }),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// nact 7: stateful actors (one message at a time), `dispatch` for tell, `query` for ask.

interface NactPing {
  n: number
  replyTo?: Ref<number>
}

async function withNact(
  work: (system: ReturnType<typeof startNact>) => Promise<Measurement>,
): Promise<Measurement> {
  const system = startNact()
  try {
    return await work(system)
  } finally {
    stopNact(system)
  }
}

function nactEcho(system: ReturnType<typeof startNact>) {
  const actor = spawn(
    system,
    (state: null, message: NactPing) => {
      if (message.replyTo) dispatch(message.replyTo, message.n)
      return state
    },
    'echo',
  )
  return (n: number) =>
    query(actor, (replyTo: Ref<number>): NactPing => ({ n, replyTo }), RUN_DEADLINE_MS)
}

function nactContender(): Contender {
  return {
    name: 'nact',
    label: 'nact 7',
    runs: {
      'ping-pong-tell': () =>
        withNact((system) => {
          const { finished, done } = completion('nact ping-pong')
          const a: Ref<NactPing> = spawn(
            system,
            (state: null, message: NactPing) => {
              dispatch(b, { n: message.n })
              return state
            },
            'a',
          )
          const b: Ref<NactPing> = spawn(
            system,
            (state: null, message: NactPing) => {
              if (message.n === PING_PONG_ROUND_TRIPS) done()
              else dispatch(a, { n: message.n + 1 })
              return state
            },
            'b',
          )
          return timed(2 * PING_PONG_ROUND_TRIPS, () => {
            dispatch(a, { n: 1 })
            return finished
          })
        }),
      'ping-pong-ask': () =>
        withNact((system) => askSequentially(ASKS_SEQUENTIAL, nactEcho(system))),
      'ask-window': () =>
        withNact((system) => askWindowed(ASKS_WINDOWED, ASK_WINDOW, nactEcho(system))),
      'fan-out-tell': () =>
        withNact((system) => {
          const { finished, done } = completion('nact fan-out')
          let remaining = FAN_OUT_MESSAGES
          const sinks = Array.from({ length: FAN_OUT_ACTORS }, (_, i) =>
            spawn(
              system,
              (state: null, _message: NactPing) => {
                if (--remaining === 0) done()
                return state
              },
              `sink-${i}`,
            ),
          )
          return timed(FAN_OUT_MESSAGES, () => {
            for (let i = 0; i < FAN_OUT_MESSAGES; i++)
              dispatch(sinks[i % FAN_OUT_ACTORS]!, { n: i })
            return finished
          })
        }),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// xstate 5: actors from `fromTransition` (the lightest actor logic), `send` for tell; an ask
// is a send carrying a resolver that the transition calls, as xstate has no built-in ask.

type XPing = { type: 'ping'; n: number; resolve?: (reply: number) => void }

function withXstate(
  work: (started: AnyActorRef[]) => Promise<Measurement>,
): (started: AnyActorRef[]) => Promise<Measurement> {
  return async (started) => {
    try {
      return await work(started)
    } finally {
      for (const actor of started) actor.stop()
    }
  }
}

function xstateEcho() {
  const actor = createActor(
    fromTransition((state: null, event: XPing) => {
      event.resolve?.(event.n)
      return state
    }, null),
  ).start()
  return {
    actor,
    ask: (n: number) => new Promise<number>((resolve) => actor.send({ type: 'ping', n, resolve })),
  }
}

function xstateContender(): Contender {
  return {
    name: 'xstate',
    label: 'xstate 5 (fromTransition actors)',
    runs: {
      'ping-pong-tell': () => {
        const { finished, done } = completion('xstate ping-pong')
        const a = createActor(
          fromTransition((state: null, event: XPing) => {
            b.send({ type: 'ping', n: event.n })
            return state
          }, null),
        )
        const b = createActor(
          fromTransition((state: null, event: XPing) => {
            if (event.n === PING_PONG_ROUND_TRIPS) done()
            else a.send({ type: 'ping', n: event.n + 1 })
            return state
          }, null),
        )
        a.start()
        b.start()
        return withXstate(() =>
          timed(2 * PING_PONG_ROUND_TRIPS, () => {
            a.send({ type: 'ping', n: 1 })
            return finished
          }),
        )([a, b])
      },
      'ping-pong-ask': () => {
        const { actor, ask } = xstateEcho()
        return withXstate(() => askSequentially(ASKS_SEQUENTIAL, ask))([actor])
      },
      'ask-window': () => {
        const { actor, ask } = xstateEcho()
        return withXstate(() => askWindowed(ASKS_WINDOWED, ASK_WINDOW, ask))([actor])
      },
      'fan-out-tell': () => {
        const { finished, done } = completion('xstate fan-out')
        let remaining = FAN_OUT_MESSAGES
        const sinks = Array.from({ length: FAN_OUT_ACTORS }, () =>
          createActor(
            fromTransition((state: null, _event: XPing) => {
              if (--remaining === 0) done()
              return state
            }, null),
          ).start(),
        )
        return withXstate(() =>
          timed(FAN_OUT_MESSAGES, () => {
            for (let i = 0; i < FAN_OUT_MESSAGES; i++)
              sinks[i % FAN_OUT_ACTORS]!.send({ type: 'ping', n: i })
            return finished
          }),
        )(sinks)
      },
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Interleaved rounds, then the report.

interface Sample {
  readonly throughput: number
  /** Operations per CPU-second of this process: less sensitive to other load on the machine. */
  readonly cpuThroughput: number
  readonly p99?: number
}

async function main(): Promise<void> {
  const wanted = args.get('contenders')?.split(',')
  const only = args.get('only')
  const contenders = [
    floorContender(),
    anywhereContender(),
    anywhereWithEventsContender(),
    nactContender(),
    xstateContender(),
  ].filter((c) => c.name === 'floor' || !wanted || wanted.includes(c.name))
  const workloads = WORKLOADS.filter((w) => !only || w.name === only)

  // samples[workload][contender] = one sample per measured round, in round order.
  const samples = new Map<WorkloadName, Map<string, Sample[]>>()
  for (const workload of workloads) samples.set(workload.name, new Map())

  const benchStarted = performance.now()
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    const warmup = round < WARMUP_ROUNDS
    // Rotate the order every round so no contender always runs first (or right after the floor).
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!)
    for (const workload of workloads) {
      for (const contender of order) {
        const run = contender.runs[workload.name]
        if (!run) continue
        collectGarbage()
        const m = await run()
        const sample: Sample = {
          throughput: (m.operations / m.elapsedMs) * 1000,
          cpuThroughput: (m.operations / m.cpuMs) * 1000,
          p99: m.latencies ? p99(m.latencies) : undefined,
        }
        process.stderr.write(
          `${warmup ? 'warm-up' : `round ${round - WARMUP_ROUNDS + 1}/${ROUNDS}`} ${workload.name} ${contender.name}: ${rate(sample.throughput)} (per CPU s ${rate(sample.cpuThroughput)})${sample.p99 !== undefined ? ` p99 ${duration(sample.p99)}` : ''}\n`,
        )
        if (warmup) continue
        const byContender = samples.get(workload.name)!
        const list = byContender.get(contender.name) ?? []
        list.push(sample)
        byContender.set(contender.name, list)
      }
    }
  }
  const benchSeconds = (performance.now() - benchStarted) / 1000

  console.log(report(contenders, workloads, samples, benchSeconds))
}

interface Row {
  readonly contender: Contender
  readonly throughput: Spread
  /** Throughput over the floor's in the same round, over rounds. */
  readonly vsFloor: Spread
  /** The same with operations per CPU-second of the process: less sensitive to other load on the machine. */
  readonly vsFloorCpu: Spread
  readonly p99?: Spread
  /** Per-round samples, to compare two contenders round by round. */
  readonly samples: readonly Sample[]
}

function rowsFor(
  contenders: readonly Contender[],
  byContender: Map<string, Sample[]>,
): Row[] | undefined {
  const floor = byContender.get('floor')
  if (!floor) return undefined
  const rows: Row[] = []
  for (const contender of contenders) {
    const list = byContender.get(contender.name)
    if (!list) continue
    const latencies = list.flatMap((s) => (s.p99 === undefined ? [] : [s.p99]))
    rows.push({
      contender,
      throughput: spread(list.map((s) => s.throughput)),
      vsFloor: spread(list.map((s, i) => s.throughput / floor[i]!.throughput)),
      vsFloorCpu: spread(list.map((s, i) => s.cpuThroughput / floor[i]!.cpuThroughput)),
      p99: latencies.length > 0 ? spread(latencies) : undefined,
      samples: list,
    })
  }
  return rows
}

function report(
  contenders: readonly Contender[],
  workloads: readonly Workload[],
  samples: Map<WorkloadName, Map<string, Sample[]>>,
  benchSeconds: number,
): string {
  const out: string[] = []
  out.push('## Actors: in-process `tell` and `ask`')
  out.push('')
  out.push(
    `Every implementation runs the same workload in this one process. Rounds are interleaved (the order of ` +
      `the implementations rotates every round); ${WARMUP_ROUNDS} warm-up round is discarded, then ${ROUNDS} rounds ` +
      `are measured. Figures are the median (min–max) over the rounds. "vs floor" is a round's wall-clock ` +
      `throughput over the floor's in the same round; "vs floor, CPU" is the same ratio with operations per ` +
      `CPU-second of the process (user + system), which other load on the machine disturbs less. The goals are ` +
      `judged on the wall-clock ratio.`,
  )
  out.push('')
  out.push(
    `- **floor**: a bare array-queue mailbox (a FIFO and a processing function, started on a microtask like the ` +
      `runtime's mailbox), no validation, no persistence.\n` +
      `- **Anywhere**: \`ActorRuntime\` with the memory store, used as a user would (\`runtime.actor(def, id)\` ` +
      `refs, \`ctx.tell\` between actors); every command input is validated by its zod schema; taps unobserved. ` +
      `"No events" handlers emit nothing (pure messaging); the events row emits one event per message, ` +
      `stored and folded before the reply.\n` +
      `- **nact 7**: stateful actors (\`spawn\`), \`dispatch\` for tell, \`query\` for ask.\n` +
      `- **xstate 5**: \`createActor(fromTransition(...))\`, \`send\` for tell; xstate has no ask, so an ask sends ` +
      `an event carrying a resolver that the transition calls. xstate processes a send synchronously when the ` +
      `target is idle (no mailbox turn), which is why it can beat the floor on asks.\n` +
      `- Each run builds a fresh runtime or actor system. A tell workload completes when the last message is ` +
      `handled (each handler counts down; the last one resolves a promise). Ask latency is \`performance.now()\` ` +
      `around each awaited ask; p99 is per run. Whole section: ${benchSeconds.toFixed(0)} s.`,
  )
  const rowsByWorkload = new Map<WorkloadName, Row[]>()
  for (const workload of workloads) {
    const rows = rowsFor(contenders, samples.get(workload.name)!)
    if (!rows) continue
    rowsByWorkload.set(workload.name, rows)
    out.push('')
    out.push(`### ${workload.title}`)
    out.push('')
    const asks = workload.unit === 'asks'
    out.push(
      table(
        [
          'implementation',
          `${workload.unit}/s`,
          'vs floor',
          'vs floor, CPU',
          ...(asks ? ['p99 latency'] : []),
        ],
        rows.map((row) => [
          row.contender.label,
          spreadText(row.throughput, rate),
          spreadText(row.vsFloor, percent),
          spreadText(row.vsFloorCpu, percent),
          ...(asks ? [row.p99 ? spreadText(row.p99, duration) : '–'] : []),
        ]),
      ),
    )
  }
  const goals = goalRows(rowsByWorkload)
  if (goals.length > 0) {
    out.push('')
    out.push('### Goals (issue 2)')
    out.push('')
    out.push(table(['goal', 'measured: median (min–max)', 'met'], goals))
  }
  return out.join('\n')
}

function goalRows(rowsByWorkload: Map<WorkloadName, Row[]>): string[][] {
  const goals: string[][] = []
  const find = (workload: WorkloadName, name: string) =>
    rowsByWorkload.get(workload)?.find((r) => r.contender.name === name)
  const floorGoal = (workload: WorkloadName, share: number) => {
    const ours = find(workload, 'anywhere')
    if (!ours) return
    goals.push([
      `${workload}: Anywhere ≥ ${percent(share)} of the floor`,
      `${spreadText(ours.vsFloor, percent)}; CPU: ${percent(ours.vsFloorCpu.median)}`,
      ours.vsFloor.median >= share ? 'yes' : '**no**',
    ])
  }
  for (const workload of ['ping-pong-tell', 'fan-out-tell'] as const) {
    floorGoal(workload, 0.4)
    const ours = find(workload, 'anywhere')
    for (const peer of ['nact', 'xstate']) {
      const theirs = find(workload, peer)
      if (!ours || !theirs) continue
      // Round by round: both ran in the same round, within seconds of each other.
      const ratio = spread(ours.samples.map((s, i) => s.throughput / theirs.samples[i]!.throughput))
      goals.push([
        `${workload}: Anywhere ahead of ${peer}`,
        `×${ratio.median.toFixed(2)} (×${ratio.min.toFixed(2)}–×${ratio.max.toFixed(2)}) of ${peer}'s throughput`,
        ratio.median > 1 ? 'yes' : '**no**',
      ])
    }
  }
  for (const workload of ['ping-pong-ask', 'ask-window'] as const) floorGoal(workload, 0.15)
  return goals
}

await main()
