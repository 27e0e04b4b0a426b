// Runs real `anywhere-node` processes for tests, and makes sure none outlives the run.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The `anywhere-node` bin the tests run. */
export const NODE_BIN = fileURLToPath(new URL('../../bin/anywhere-node.mjs', import.meta.url))

/** Longest output kept per process (for failure messages). */
const MAX_OUTPUT_CHARS = 200_000

/** The JSON line a node prints on stdout once it serves. */
export interface ReadyInfo {
  event: 'ready'
  http: string
  geo: string
  nodeId: string
  store: string
  peerId?: string
  fabric?: string[]
}

export interface NodeProcess {
  /** The gateway's base URL, e.g. http://127.0.0.1:40123. */
  readonly url: string
  readonly pid: number
  readonly ready: ReadyInfo
  /** Sends a signal (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Sends a signal that does not end the process (SIGSTOP, SIGCONT) and returns at once. */
  signal(signal: NodeJS.Signals): void
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>
  /** Everything the process printed so far (stdout and stderr). */
  output(): string
  /** The exit code once exited, else undefined. */
  exitCode(): number | null | undefined
}

export interface StartNodeOptions {
  args: readonly string[]
  env?: Record<string, string>
  /** Node's own flags before the entry point (e.g. `--cpu-prof` for a benchmark's profile). */
  nodeArgs?: readonly string[]
  /** How long to wait for the ready line. */
  timeoutMs?: number
}

const running = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Starts `anywhere-node <args>` and resolves once it prints its ready line. */
export async function startNodeProcess(options: StartNodeOptions): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), NODE_BIN, ...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let output = ''
  let exitCode: number | null | undefined
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? null : code)
      running.delete(child)
      resolve()
    }),
  )
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8')
    if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS)
  }
  child.stderr.on('data', append)

  const ready = await new Promise<ReadyInfo>((resolve, reject) => {
    let stdout = ''
    const timeoutMs = options.timeoutMs ?? 30_000
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `anywhere-node ${options.args.join(' ')} printed no ready line within ${timeoutMs} ms:\n${output}`,
        ),
      )
    }, timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      append(chunk)
      stdout += chunk.toString('utf8')
      const line = stdout.split('\n').find((l) => l.startsWith('{"event":"ready"'))
      if (line) {
        clearTimeout(timer)
        resolve(JSON.parse(line) as ReadyInfo)
      }
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(
        new Error(
          `anywhere-node ${options.args.join(' ')} exited (code ${exitCode}) before it was ready:\n${output}`,
        ),
      )
    })
  })

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (exitCode === undefined) child.kill(signal)
    await exited
  }
  return {
    url: ready.http,
    pid: child.pid!,
    ready,
    kill,
    signal: (signal) => {
      if (exitCode === undefined) child.kill(signal)
    },
    async stop(graceMs = 10_000) {
      if (exitCode !== undefined) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
    output: () => output,
    exitCode: () => exitCode,
  }
}

/** Kills every node process still running (root hook; also runs on process exit). */
export async function stopAllNodeProcesses(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
}

/** Runs `anywhere-node <args>` to completion (e.g. `id`); resolves with its stdout. */
export async function runNodeCommand(
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [NODE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  running.delete(child)
  return { code, stdout, stderr }
}

/** A CLI failure as a person should see it: one message line on stderr and no stack frame. */
export function assertOneLine(stderr: string): void {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`)
  assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace expected, got:\n${stderr}`)
}
