// Where a process's time went, from a `node --cpu-prof` profile, in a window of it:
//   node --import tsx bench/support/profile-summary.ts <file.cpuprofile> [fromUs toUs] [--top=N]
// fromUs/toUs are CLOCK_MONOTONIC microseconds (what `process.hrtime.bigint() / 1000n` gives in
// any process of the machine, and what the profile's timestamps are), e.g. the load window
// bench/fabric-cost.bench.ts prints. Prints busy time, the functions with the most self time,
// and the busy time by the innermost part of the code a sample was in (see PARTS).
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A sample belongs to the innermost frame whose script matches one of these (first match wins). */
const PARTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['yamux', /libp2p-yamux/],
  ['noise (and its ciphers)', /libp2p-noise|@noble|@stablelib|chacha|as-sha256/],
  ['msgpack', /@msgpack/],
  ['libp2p, other', /@libp2p|\/libp2p\/dist|\/it-|uint8arraylist|p-queue|race-signal|main-event/],
  ['fabric (transports/libp2p)', /transports\/libp2p\//],
  ['gateway (transports/http, fastify)', /transports\/http|fastify|find-my-way|avvio|ajv/],
  ['runtime (core)', /\/core\//],
  ['store', /\/stores\//],
  ['zod', /zod/],
  ['node internals', /^node:|^internal/],
]

/** Whether a frame is in the fabric's code or libp2p's (the cost of replication). */
const REPLICATION = /transports\/libp2p\/|libp2p|@chainsafe|@noble/

export interface ProfileSummary {
  busyUs: number
  idleUs: number
  /** Self time per function (`name path:line`), highest first. */
  functions: Array<[string, number]>
  /** Busy time per part of the code (PARTS, plus gc and program), highest first. */
  parts: Array<[string, number]>
  /** Busy time with a fabric or libp2p frame anywhere on the stack. */
  replicationUs: number
  /** That time by function (self time), highest first. */
  replicationFunctions: Array<[string, number]>
}

export function summarize(profile: Profile, fromUs = -Infinity, toUs = Infinity): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const self = new Map<number, number>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!
    if (at < fromUs || at > toUs) continue
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const innermost = (id: number, test: (url: string) => string | undefined): string | undefined => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const found = test(nodes.get(cur)!.callFrame.url)
      if (found) return found
    }
    return undefined
  }
  const functions = new Map<string, number>()
  const parts = new Map<string, number>()
  let busyUs = 0
  let idleUs = 0
  let replicationUs = 0
  const replicationFunctions = new Map<string, number>()
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame
    if (functionName === '(idle)') {
      idleUs += us
      continue
    }
    busyUs += us
    const where = url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(?=[a-z]+\/)/, '')
    const name = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`
    functions.set(name, (functions.get(name) ?? 0) + us)
    const part =
      functionName === '(garbage collector)'
        ? 'gc'
        : functionName === '(program)'
          ? 'program (V8, native)'
          : (innermost(id, (u) => PARTS.find(([, re]) => re.test(u))?.[0]) ?? 'other')
    parts.set(part, (parts.get(part) ?? 0) + us)
    if (innermost(id, (u) => (REPLICATION.test(u) ? 'yes' : undefined))) {
      replicationUs += us
      replicationFunctions.set(name, (replicationFunctions.get(name) ?? 0) + us)
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1])
  return {
    busyUs,
    idleUs,
    functions: sorted(functions),
    parts: sorted(parts),
    replicationUs,
    replicationFunctions: sorted(replicationFunctions),
  }
}

function main(): void {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'))
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice('--top='.length) ?? 30)
  const [file, from, to] = positional
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [fromUs toUs] [--top=N]')
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const s = summarize(profile, from ? Number(from) : -Infinity, to ? Number(to) : Infinity)
  const pct = (us: number) => `${((us / s.busyUs) * 100).toFixed(1).padStart(5)} %`
  const lines = [
    `busy ${(s.busyUs / 1e6).toFixed(2)} s, idle ${(s.idleUs / 1e6).toFixed(2)} s; replication (a fabric or libp2p frame on the stack): ${pct(s.replicationUs)}`,
    '',
    'by part (innermost):',
    ...s.parts.map(([k, us]) => `${pct(us)}  ${k}`),
    '',
    `top ${top} functions by self time:`,
    ...s.functions.slice(0, top).map(([k, us]) => `${pct(us)}  ${k}`),
    '',
    `replication's top ${top} functions by self time (of all busy time):`,
    ...s.replicationFunctions.slice(0, top).map(([k, us]) => `${pct(us)}  ${k}`),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) main()
