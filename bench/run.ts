// Runs the benchmarks and writes BENCHMARKS.md.
//
//   npm run bench                     every bench/*.bench.ts, one after another
//   npm run bench -- actors gateway   only the scripts whose name contains one of the words
//   ... -- --out=<file>               write <file> instead of BENCHMARKS.md
//
// Each script runs in its own process (so one cannot skew the next through its heap, JIT or
// leftover timers) and prints one markdown section on stdout; progress goes to stderr. A script
// that fails is written into the file as failed, with the end of its stderr. Sections of scripts
// not selected this time are kept from the previous file, each still saying how and when it was
// produced.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { basename, dirname, join, relative, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as prettier from 'prettier'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH_DIR)
const SUFFIX = '.bench.ts'
/** A script still running after this long is killed and reported as failed. */
const SCRIPT_TIMEOUT_MS = 20 * 60_000
/** How much of a failed script's stderr goes into the file. */
const STDERR_TAIL_LINES = 40
/** Node flags every script runs with: TypeScript through tsx, and `gc()` so runs can start from a collected heap. */
const NODE_FLAGS = ['--expose-gc', '--import', 'tsx']

interface Outcome {
  readonly name: string
  readonly command: string
  readonly startedAt: Date
  readonly seconds: number
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly timedOut: boolean
}

const running = new Set<ChildProcess>()
function killAll(): void {
  for (const child of running) child.kill('SIGKILL')
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })

const nameOf = (file: string) => basename(file, SUFFIX)

async function main(): Promise<number> {
  const argv = process.argv.slice(2)
  const out = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length)
  const output = out ? resolvePath(out) : join(ROOT, 'BENCHMARKS.md')
  const filters = argv.filter((a) => !a.startsWith('--'))
  const unknown = argv.filter((a) => a.startsWith('--') && !a.startsWith('--out='))
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown option ${unknown.join(' ')}; usage: bench/run.ts [--out=<file>] [word...]\n`,
    )
    return 2
  }
  const all = (await readdir(BENCH_DIR)).filter((f) => f.endsWith(SUFFIX)).sort()
  const selected =
    filters.length === 0 ? all : all.filter((f) => filters.some((w) => nameOf(f).includes(w)))
  const unmatched = filters.filter((w) => !all.some((f) => nameOf(f).includes(w)))
  if (unmatched.length > 0 || selected.length === 0) {
    process.stderr.write(
      `no benchmark matches ${unmatched.map((w) => `'${w}'`).join(', ') || 'the filters'}; ` +
        `available: ${all.map(nameOf).join(', ')}\n`,
    )
    return 2
  }

  const invocation = commandLine(argv)
  const machine = machineLine()
  const loadAtStart = loadLine()
  const outcomes: Outcome[] = []
  for (const file of selected) {
    process.stderr.write(
      `\n▶ ${nameOf(file)}  (${selected.indexOf(file) + 1}/${selected.length})\n`,
    )
    const outcome = await runScript(file)
    outcomes.push(outcome)
    const status = succeeded(outcome) ? 'done' : 'FAILED'
    process.stderr.write(`◀ ${outcome.name}: ${status} in ${outcome.seconds.toFixed(0)} s\n`)
    if (succeeded(outcome)) process.stdout.write(outcome.stdout.trimEnd() + '\n\n')
  }

  const kept = filters.length === 0 ? new Map<string, string>() : await previousSections(output)
  const sections = new Map<string, string>()
  for (const file of all) {
    const name = nameOf(file)
    const outcome = outcomes.find((o) => o.name === name)
    if (outcome) sections.set(name, renderSection(outcome, machine, invocation))
    else if (kept.has(name)) sections.set(name, kept.get(name)!)
  }
  const text = renderFile(sections, outcomes, { machine, invocation, loadAtStart })
  // Formatted as `npm run format` would, so that formatting the repository leaves it unchanged.
  const options = { ...(await prettier.resolveConfig(output)), filepath: output }
  await writeFile(output, await prettier.format(text, options))
  process.stderr.write(`\nwrote ${relative(process.cwd(), output)}\n`)
  return outcomes.every(succeeded) ? 0 : 1
}

function succeeded(outcome: Outcome): boolean {
  return outcome.exitCode === 0 && !outcome.timedOut && outcome.stdout.trim() !== ''
}

function runScript(file: string): Promise<Outcome> {
  const args = [...NODE_FLAGS, join('bench', file)]
  const command = `node ${args.join(' ')}`
  const startedAt = new Date()
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    })
    running.add(child)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      process.stderr.write(chunk)
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, SCRIPT_TIMEOUT_MS)
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      running.delete(child)
      resolve({
        name: nameOf(file),
        command,
        startedAt,
        seconds: (performance.now() - started) / 1000,
        stdout,
        stderr,
        exitCode,
        signal,
        timedOut,
      })
    }
    child.on('error', (error) => {
      stderr += `\n${error.message}\n`
      finish(null, null)
    })
    child.on('close', finish)
  })
}

/** The command as the user typed it, as far as it can be known. */
function commandLine(argv: readonly string[]): string {
  if (process.env.npm_lifecycle_event === 'bench')
    return `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
  return ['node --import tsx bench/run.ts', ...argv].join(' ')
}

function machineLine(): string {
  const list = cpus()
  const models = [...new Set(list.map((c) => c.model.trim()))].join(', ')
  const memory = `${Math.round(totalmem() / 2 ** 30)} GiB RAM`
  return `${list.length} cores (${models}), ${memory}, Node ${process.version}, ${process.platform} ${process.arch}`
}

function loadLine(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')
}

const BEGIN = (name: string) => `<!-- bench:${name} begin -->`
const END = (name: string) => `<!-- bench:${name} end -->`

function renderSection(outcome: Outcome, machine: string, invocation: string): string {
  const when = outcome.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')
  const provenance =
    `_Produced by \`${outcome.command}\` (run by \`${invocation}\`) on ${when}, ` +
    `${outcome.seconds.toFixed(0)} s; ${machine}._`
  if (succeeded(outcome))
    return [BEGIN(outcome.name), outcome.stdout.trim(), '', provenance, END(outcome.name)].join(
      '\n',
    )
  const why = outcome.timedOut
    ? `was killed after ${SCRIPT_TIMEOUT_MS / 60_000} minutes`
    : outcome.exitCode === 0
      ? 'exited 0 but printed no section'
      : outcome.signal
        ? `was killed by ${outcome.signal}`
        : `exited with code ${outcome.exitCode ?? '(did not start)'}`
  const tail = outcome.stderr.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n')
  return [
    BEGIN(outcome.name),
    `## ${outcome.name}: FAILED`,
    '',
    `\`${outcome.command}\` ${why}. No figures from this run. Last lines of its stderr:`,
    '',
    '```text',
    tail || '(nothing on stderr)',
    '```',
    '',
    provenance,
    END(outcome.name),
  ].join('\n')
}

/** Sections of the current file, by script name, to keep those not re-run. */
async function previousSections(output: string): Promise<Map<string, string>> {
  const sections = new Map<string, string>()
  if (!existsSync(output)) return sections
  const text = await readFile(output, 'utf8')
  for (const match of text.matchAll(/<!-- bench:([\w.-]+) begin -->[\s\S]*?<!-- bench:\1 end -->/g))
    sections.set(match[1]!, match[0])
  return sections
}

function renderFile(
  sections: Map<string, string>,
  outcomes: readonly Outcome[],
  run: { machine: string; invocation: string; loadAtStart: string },
): string {
  const ran = outcomes.map((o) => o.name)
  const keptNames = [...sections.keys()].filter((n) => !ran.includes(n))
  const failed = outcomes.filter((o) => !succeeded(o)).map((o) => o.name)
  const header = [
    '# Benchmarks',
    '',
    'Written by `bench/run.ts`: `npm run bench` runs every `bench/*.bench.ts`, `npm run bench -- <word>...` ' +
      'the scripts whose name contains one of the words. Each script runs in its own process, one after ' +
      'another, and compares against a floor measured in the same run, interleaved, reporting the median and ' +
      'min–max over several runs. These machines drift 1.5–3× between runs and are shared with other work, ' +
      'so the ratios to the floor are the figures to read, not the absolute rates.',
    '',
    `- Last run: \`${run.invocation}\` on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- Machine: ${run.machine}`,
    `- Load average (1 / 5 / 15 min) at the start: ${run.loadAtStart}; at the end: ${loadLine()}`,
    `- Sections from this run: ${ran.join(', ')}${failed.length > 0 ? ` (failed: ${failed.join(', ')})` : ''}`,
    ...(keptNames.length > 0
      ? [
          `- Kept from earlier runs (each says how and when it was produced): ${keptNames.join(', ')}`,
        ]
      : []),
  ].join('\n')
  return [header, ...sections.values()].join('\n\n') + '\n'
}

process.exitCode = await main()
