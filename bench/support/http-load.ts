// What the HTTP benchmarks share: a server in a child process that prints a JSON line once it
// listens, autocannon against it, and the server's CPU time per answered request.
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

/** A server must print its line within this long. */
const START_TIMEOUT_MS = 60_000
/** A server still running this long after it was asked to stop is killed. */
const STOP_GRACE_MS = 10_000
/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ). */
const TICKS_PER_SECOND = 100

export interface ServerProcess {
  readonly child: ChildProcess
  /** The first JSON line the server printed that `ready` accepted. */
  readonly line: Record<string, unknown>
  /** Asks the server to stop (stdin end and SIGTERM), then SIGKILL after a grace period. */
  stop(): Promise<void>
}

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

/**
 * Spawns `node <args>` and resolves with the first JSON line on its stdout for which `ready`
 * is true. The rest of its stdout and its stderr are drained (kept: the last few KB, for errors).
 */
export async function startServerProcess(
  args: readonly string[],
  ready: (line: Record<string, unknown>) => boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
  children.add(child)
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-8_000))
  child.stderr!.on('data', keep)
  const exited = once(child, 'exit')
  const lines = createInterface({ input: child.stdout! })
  const found = new Promise<Record<string, unknown>>((resolve) => {
    lines.on('line', (text) => {
      keep(Buffer.from(text + '\n'))
      if (!text.startsWith('{')) return
      try {
        const line = JSON.parse(text) as Record<string, unknown>
        if (ready(line)) resolve(line)
      } catch {
        // a log line that is not JSON: not the one we wait for
      }
    })
  })
  let timer: NodeJS.Timeout | undefined
  const line = await Promise.race([
    found,
    exited.then(([code]) => {
      throw new Error(
        `node ${args.join(' ')} exited (${String(code)}) before it was ready:\n${output}`,
      )
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(
          new Error(`node ${args.join(' ')} was not ready in ${START_TIMEOUT_MS} ms:\n${output}`),
        )
      }, START_TIMEOUT_MS)
    }),
  ]).finally(() => clearTimeout(timer))
  return {
    child,
    line,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end()
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
        await exited
        clearTimeout(timer)
      }
      children.delete(child)
    },
  }
}

/** User + system CPU seconds a process has used so far, from /proc (Linux only). */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

export interface LoadSample {
  /** 2xx responses per second over the run. */
  readonly throughput: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly non2xx: number
  readonly errors: number
  /** CPU time the server processes used per 2xx response (user + system), in µs; undefined where /proc is missing. */
  readonly serverCpuUs: number | undefined
}

export interface LoadOptions {
  readonly url: string
  readonly requests: autocannon.Request[]
  readonly seconds: number
  readonly connections: number
  /** Requests per second over all connections; omitted: as fast as the server answers. */
  readonly rate?: number
  /** The processes doing the server's work (the node and, say, its redis-server; undefined: none): their CPU is summed. */
  readonly pids: readonly (number | undefined)[]
}

/** autocannon with `connections` connections (no pipelining) against `url` for `seconds`. */
export async function loadServer(options: LoadOptions): Promise<LoadSample> {
  const cpuNow = () => {
    const values = options.pids.filter((pid) => pid !== undefined).map(cpuSeconds)
    return values.some((v) => v === undefined) ? undefined : values.reduce((a, b) => a! + b!, 0)
  }
  const cpuBefore = cpuNow()
  // Counted in the result, but only as a number: the first one says why.
  let firstError: Error | undefined
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        requests: options.requests,
        ...(options.rate === undefined ? {} : { overallRate: options.rate }),
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    )
    instance.on('reqError', (error: Error) => (firstError ??= error))
  })
  const cpuAfter = cpuNow()
  if (firstError)
    process.stderr.write(
      `${options.url}: ${result.errors} request errors, the first: ${firstError.message}\n`,
    )
  return {
    serverCpuUs:
      cpuBefore === undefined || cpuAfter === undefined || result['2xx'] === 0
        ? undefined
        : ((cpuAfter - cpuBefore) * 1e6) / result['2xx'],
    throughput: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  }
}

/** autocannon measures latency in whole milliseconds: 0 means under 1 ms. */
export function millis(ms: number): string {
  return ms < 1 ? '<1 ms' : `${Number.isInteger(ms) ? ms : ms.toFixed(1)} ms`
}
