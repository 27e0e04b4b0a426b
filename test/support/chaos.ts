// A seeded chaos run over real geos: a schedule of partitions, one-way cuts, kill -9 with
// restart and SIGSTOP/SIGCONT while clients write to every geo, keeping a model of what was
// acknowledged. At the end everything is healed and the geos must converge to one state that
// holds every acknowledged write exactly once. CHAOS_SEED replays a schedule.
import { fileURLToPath } from 'node:url'
import { poll, startMultiGeo, type Geo, type MultiGeo } from './multi-geo.js'
import { scratchModule } from './scratch-module.js'
import { SeededRandom } from './seeded-random.js'

export interface ChaosInit {
  seed: number
  /** Faults in the schedule. */
  steps: number
  geos?: readonly string[]
  /** How long each fault lasts (a step of the schedule, not a wait for a condition). */
  stepMs?: readonly [number, number]
  /** How long the healed geos may take to converge. */
  convergeTimeoutMs?: number
  /** Progress lines (the schedule as it runs). */
  log?: (line: string) => void
}

export interface ChaosReport {
  seed: number
  schedule: string[]
  acked: number
  unknown: number
  convergeMs: number
  /** Every broken promise, with what was seen. */
  violations: string[]
}

export const COUNTERS = ['c0', 'c1', 'c2']
export const JOURNALS = ['j0', 'j1']
/** A write whose answer takes longer is of unknown outcome (it may still apply later). */
const WRITE_TIMEOUT_MS = 4_000

/** What clients were told: acknowledged writes, and those whose outcome is unknown. */
export class AckModel {
  readonly counterAcked = new Map<string, number>()
  readonly counterUnknown = new Map<string, number>()
  readonly journalAcked = new Map<string, Set<string>>()
  readonly journalUnknown = new Map<string, Set<string>>()
  acked = 0
  unknown = 0

  counter(id: string, by: number, outcome: 'acked' | 'unknown'): void {
    const map = outcome === 'acked' ? this.counterAcked : this.counterUnknown
    map.set(id, (map.get(id) ?? 0) + by)
    this[outcome]++
  }

  line(id: string, line: string, outcome: 'acked' | 'unknown'): void {
    const map = outcome === 'acked' ? this.journalAcked : this.journalUnknown
    const lines = map.get(id) ?? new Set<string>()
    lines.add(line)
    map.set(id, lines)
    this[outcome]++
  }
}

/** POSTs a command to the geo's current process; `acked` on 2xx, `refused` on 4xx, else `unknown`. */
async function write(
  geo: Geo,
  path: string,
  body: unknown,
): Promise<'acked' | 'refused' | 'unknown' | 'down'> {
  let url: string
  try {
    url = geo.url
  } catch {
    return 'down'
  }
  try {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(WRITE_TIMEOUT_MS),
    })
    await response.text()
    if (response.ok) return 'acked'
    return response.status < 500 ? 'refused' : 'unknown'
  } catch {
    // Refused before it was sent (the process is gone) or no answer: it may have applied.
    return 'unknown'
  }
}

/** One client per geo, writing until `stop()`; its own seeded choices. */
function startWriter(geo: Geo, rng: SeededRandom, model: AckModel, violations: string[]) {
  let stopped = false
  let n = 0
  const done = (async () => {
    while (!stopped) {
      if (rng.chance(0.6)) {
        const id = rng.pick(COUNTERS)
        const by = rng.int(1, 5)
        const outcome = await write(geo, `/v1/actors/counter/${id}/increment`, { by })
        if (outcome === 'acked' || outcome === 'unknown') model.counter(id, by, outcome)
        else if (outcome === 'refused') violations.push(`geo ${geo.name} refused increment ${by}`)
        if (outcome === 'down') await new Promise((resolve) => setTimeout(resolve, 50))
      } else {
        const id = rng.pick(JOURNALS)
        const line = `${geo.name}-${n++}`
        const outcome = await write(geo, `/v1/actors/journal/${id}/write`, { line })
        if (outcome === 'acked' || outcome === 'unknown') model.line(id, line, outcome)
        else if (outcome === 'refused') violations.push(`geo ${geo.name} refused line ${line}`)
        if (outcome === 'down') await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  })()
  return {
    async stop() {
      stopped = true
      await done
    },
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Applies one random fault, holds it for a step, then undoes it; returns what it did. */
async function chaosStep(
  cluster: MultiGeo,
  names: readonly string[],
  rng: SeededRandom,
  stepMs: number,
): Promise<string> {
  const geo = rng.pick(names)
  const other = rng.pick(names.filter((n) => n !== geo))
  switch (rng.pick(['partition', 'one-way', 'kill', 'stop', 'partition+kill'] as const)) {
    case 'partition': {
      cluster.partition(
        [geo],
        names.filter((n) => n !== geo),
      )
      await sleep(stepMs)
      cluster.heal()
      return `partition ${geo} | rest for ${stepMs} ms`
    }
    case 'one-way': {
      cluster.cutOneWay(geo, other)
      await sleep(stepMs)
      cluster.heal()
      return `one-way cut ${geo}->${other} for ${stepMs} ms`
    }
    case 'kill': {
      await cluster.geo(geo).kill('SIGKILL')
      await sleep(stepMs)
      await cluster.geo(geo).restart()
      return `kill -9 ${geo}, restart after ${stepMs} ms`
    }
    case 'stop': {
      cluster.geo(geo).signal('SIGSTOP')
      await sleep(stepMs)
      cluster.geo(geo).signal('SIGCONT')
      return `SIGSTOP ${geo} for ${stepMs} ms`
    }
    case 'partition+kill': {
      cluster.partition(
        [geo],
        names.filter((n) => n !== geo),
      )
      await cluster.geo(other).kill('SIGKILL')
      await sleep(stepMs)
      await cluster.geo(other).restart()
      cluster.heal()
      return `partition ${geo} | rest and kill -9 ${other} for ${stepMs} ms`
    }
  }
}

/** Every geo's state of every actor of the run, as JSON text, per geo. */
async function statesOf(cluster: MultiGeo): Promise<Map<string, Record<string, string>>> {
  const states = new Map<string, Record<string, string>>()
  for (const geo of cluster.geos) {
    const state: Record<string, string> = {}
    for (const id of COUNTERS)
      state[`counter/${id}`] = JSON.stringify(await geo.state('counter', id))
    for (const id of JOURNALS)
      state[`journal/${id}`] = JSON.stringify(await geo.state('journal', id))
    states.set(geo.name, state)
  }
  return states
}

/** Checks the converged state against the model: counters in bounds, journal lines once. */
export function checkModel(state: Record<string, string>, model: AckModel): string[] {
  const violations: string[] = []
  for (const id of COUNTERS) {
    const { value } = JSON.parse(state[`counter/${id}`]!) as { value: number }
    const acked = model.counterAcked.get(id) ?? 0
    const unknown = model.counterUnknown.get(id) ?? 0
    if (value < acked || value > acked + unknown)
      violations.push(`counter ${id} is ${value}, expected ${acked} <= value <= ${acked + unknown}`)
  }
  for (const id of JOURNALS) {
    const { lines } = JSON.parse(state[`journal/${id}`]!) as { lines: string[] }
    const count = new Map<string, number>()
    for (const line of lines) count.set(line, (count.get(line) ?? 0) + 1)
    for (const line of model.journalAcked.get(id) ?? [])
      if (count.get(line) !== 1)
        violations.push(
          `journal ${id} holds acknowledged line ${line} ${count.get(line) ?? 0} times`,
        )
    const known = new Set([
      ...(model.journalAcked.get(id) ?? []),
      ...(model.journalUnknown.get(id) ?? []),
    ])
    for (const [line, times] of count) {
      if (!known.has(line)) violations.push(`journal ${id} holds a line never written: ${line}`)
      else if (times > 1) violations.push(`journal ${id} holds ${line} ${times} times`)
    }
  }
  return violations
}

/** Runs the chaos schedule of `init.seed` on fresh geos and reports every broken promise. */
export async function runChaos(init: ChaosInit): Promise<ChaosReport> {
  const names = init.geos ?? ['a', 'b', 'c']
  const rng = new SeededRandom(init.seed)
  const [minStep, maxStep] = init.stepMs ?? [1_000, 2_500]
  const log = init.log ?? (() => {})
  const journalModule = fileURLToPath(new URL('./journal.ts', import.meta.url))
  const config = await scratchModule(
    'chaos.config.ts',
    `import { journal } from ${JSON.stringify(journalModule)}\nexport default { builtInActors: true, actors: [journal] }\n`,
  )
  const report: ChaosReport = {
    seed: init.seed,
    schedule: [],
    acked: 0,
    unknown: 0,
    convergeMs: 0,
    violations: [],
  }
  let cluster: MultiGeo | undefined
  try {
    cluster = await startMultiGeo({ geos: names, store: 'file', configFile: config.file })
    const model = new AckModel()
    const writers = cluster.geos.map((geo, i) =>
      startWriter(geo, rng.fork(1_000 + i), model, report.violations),
    )
    try {
      for (let step = 0; step < init.steps; step++) {
        const line = await chaosStep(cluster, names, rng.fork(step), rng.int(minStep, maxStep))
        report.schedule.push(line)
        log(`step ${step + 1}/${init.steps}: ${line}`)
      }
    } finally {
      await Promise.all(writers.map((w) => w.stop()))
    }
    // Heal everything: links restored, stopped processes resumed, dead ones started.
    cluster.heal()
    for (const geo of cluster.geos) {
      if (geo.node) geo.signal('SIGCONT')
      else await geo.restart()
    }
    const started = Date.now()
    await cluster.waitReplicated(init.convergeTimeoutMs ?? 90_000)
    let last: Map<string, Record<string, string>> | undefined
    await poll(
      'the geos hold identical state',
      async () => {
        last = await statesOf(cluster!)
        const texts = [...last.values()].map((s) => JSON.stringify(s))
        return texts.every((t) => t === texts[0])
      },
      init.convergeTimeoutMs ?? 90_000,
      250,
    ).catch((error: unknown) => {
      report.violations.push(
        `${(error as Error).message}; last seen ${JSON.stringify(last ? Object.fromEntries(last) : {})}`,
      )
    })
    report.convergeMs = Date.now() - started
    report.acked = model.acked
    report.unknown = model.unknown
    if (last) report.violations.push(...checkModel([...last.values()][0]!, model))
    log(
      `converged in ${report.convergeMs} ms; ${model.acked} writes acknowledged, ${model.unknown} of unknown outcome`,
    )
    return report
  } catch (error) {
    if (cluster)
      for (const geo of cluster.geos)
        log(`--- output of geo ${geo.name} ---\n${geo.output().slice(-3_000)}`)
    throw error
  } finally {
    await cluster?.stop()
    await config.remove()
  }
}
