// CLI start, compiled against tsx: `node --import tsx bench/cli-start.bench.ts [--runs=N]`
//
// Times the whole process, as a user starts it: `anywhere-node --version`, and a node's start
// until it prints its ready line (memory store, gateway on a free port, no fabric). Each run
// alternates the compiled bin (dist/, what `npm i anywhere-node` installs and `npx` runs) with
// the same bin running the TypeScript sources through tsx (ANYWHERE_NODE_FROM_SOURCE=1, what
// the test suite runs). CPU is the child's user + system time from /proc.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { percent, spread, spreadText, table } from './support/stats.js'
import { buildDist } from './support/build.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/anywhere-node.mjs', import.meta.url))
const RUNS = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 7)
const TICKS_PER_SECOND = 100

type Mode = 'compiled' | 'tsx'

function env(mode: Mode): NodeJS.ProcessEnv {
  const e = { ...process.env }
  delete e.NODE_OPTIONS
  if (mode === 'tsx') e.ANYWHERE_NODE_FROM_SOURCE = '1'
  else delete e.ANYWHERE_NODE_FROM_SOURCE
  return e
}

/** CPU seconds (user + system) of a live process, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/** Runs `args` until `done(output)` is true (then kills it) or it exits; wall ms and CPU s. */
function timeRun(
  mode: Mode,
  args: readonly string[],
  done: (output: string) => boolean,
): Promise<{ ms: number; cpu: number }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: env(mode),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    let cpu = 0
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${mode} ${args.join(' ')}: no result in 60 s; saw ${output}`))
    }, 60_000)
    child.stdout.on('data', (data: Buffer) => {
      output += data.toString()
      if (done(output)) {
        const ms = performance.now() - started
        cpu = cpuSeconds(child.pid!)
        clearTimeout(timer)
        child.once('exit', () => resolve({ ms, cpu }))
        child.kill('SIGKILL')
      }
    })
    child.on('exit', (code) => {
      if (cpu > 0) return
      clearTimeout(timer)
      if (done(output)) resolve({ ms: performance.now() - started, cpu: 0 })
      else reject(new Error(`${mode} ${args.join(' ')} exited ${code}: ${output}`))
    })
  })
}

const WORKLOADS = {
  '`anywhere-node --version`': {
    args: ['--version'],
    done: (o: string) => /\d+\.\d+\.\d+/.test(o),
  },
  'start to ready (memory store, gateway)': {
    args: ['--store', 'memory', '--port', '0', '--log-level', 'warn'],
    done: (o: string) => o.includes('"event":"ready"'),
  },
} as const

async function main(): Promise<void> {
  buildDist()
  const results = new Map<string, { ms: number[]; cpu: number[] }>()
  for (let run = 0; run <= RUNS; run++) {
    const order: Mode[] = run % 2 === 0 ? ['compiled', 'tsx'] : ['tsx', 'compiled']
    for (const [name, workload] of Object.entries(WORKLOADS))
      for (const mode of order) {
        const result = await timeRun(mode, workload.args, workload.done)
        if (run === 0) continue // warm-up: file cache, npm's first resolution
        const key = `${name}|${mode}`
        const entry = results.get(key) ?? { ms: [], cpu: [] }
        entry.ms.push(result.ms)
        entry.cpu.push(result.cpu)
        results.set(key, entry)
        process.stderr.write(`run ${run}/${RUNS} ${mode} ${name}: ${result.ms.toFixed(0)} ms\n`)
      }
  }
  const ms = (v: number) => `${v.toFixed(0)} ms`
  const s = (v: number) => `${v.toFixed(2)} s`
  const rows: string[][] = []
  for (const name of Object.keys(WORKLOADS)) {
    const compiled = results.get(`${name}|compiled`)!
    const tsx = results.get(`${name}|tsx`)!
    const ratios = compiled.ms.map((v, i) => v / tsx.ms[i]!)
    for (const [mode, entry] of [
      ['compiled (dist/, plain node)', compiled],
      ['tsx (sources)', tsx],
    ] as const)
      rows.push([
        name,
        mode,
        spreadText(spread(entry.ms), ms),
        spreadText(spread(entry.cpu), s),
        mode.startsWith('compiled') ? spreadText(spread(ratios), percent) : '100%',
      ])
  }
  console.log('## CLI start: compiled JS against tsx')
  console.log('')
  console.log(
    `\`node --import tsx bench/cli-start.bench.ts\`: the bin as \`npx anywhere-node\` runs it, ${RUNS} runs after one warm-up, ` +
      'compiled and tsx alternating (which goes first swaps every run). Wall time is from spawn to the ' +
      "version line or the ready line; CPU is the process's user + system time at that moment. " +
      '"Time vs tsx" is a run\'s compiled wall time over the tsx one in the same run. Median (min–max).',
  )
  console.log('')
  console.log(table(['command', 'bin runs', 'wall time', 'CPU', 'time vs tsx'], rows))
}

await main()
