// Runs real `redis-server` processes for tests on random ports, and makes sure none
// outlives the run. Specs call `before(requireRedis)` (or `requireRedisServer` when they
// must kill the server), start what they need, and use a unique key prefix per test.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { freePort } from './ports.js'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** How long a started redis-server may take to answer PING (an AOF replay included). */
const READY_TIMEOUT_MS = 15_000
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000
/** Pause between two PING attempts while a server starts. */
const PING_INTERVAL_MS = 25
/** Longest output kept per server (for failure messages). */
const MAX_OUTPUT_CHARS = 20_000

export interface RedisServerOptions {
  /** `appendonly yes` with this fsync policy; omitted: no persistence at all. */
  appendfsync?: 'always' | 'everysec'
  /** Data dir (AOF files); a temp dir removed by `stop()` when omitted. */
  dir?: string
  /**
   * Cluster mode (`nodes.conf` in the data dir) with its bus on `busPort` (the default,
   * port + 10000, may be taken or past 65535); the server starts alone, `startRedisCluster`
   * joins it to the others.
   */
  cluster?: { nodeTimeoutMs: number; busPort: number }
}

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** The pid of the current process (it changes on `restart()`). */
  readonly pid: number
  readonly dir: string
  /** SIGTERM (then SIGKILL), and removes the data dir if the harness made it. Idempotent. */
  stop(): Promise<void>
  /** Sends a signal (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Starts the server again on the same port and data dir (after `kill`). */
  restart(): Promise<void>
  /** What the current process printed. */
  output(): string
}

const running = new Set<ChildProcess>()
/** Data dirs the harness made and has not removed yet. */
const ownDirs = new Set<string>()

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
  for (const dir of ownDirs) rmSync(dir, { recursive: true, force: true })
})

/** Kills every redis-server this harness started that still runs. */
export async function stopAllRedisServers(): Promise<void> {
  await Promise.all([...running].map((child) => killChild(child, 'SIGKILL')))
}

/** True when `redis-server` is on PATH. */
export function hasRedisServer(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, 'redis-server'), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

let hintPrinted = false

function missing(what: string, context: Mocha.Context): void {
  const message = `${what}: install it (apt-get install redis-server, or brew install redis)`
  if (process.env.CI) throw new Error(`${message}; CI must run the Redis tests`)
  if (!hintPrinted) {
    hintPrinted = true
    process.stderr.write(`\n  Skipping Redis tests: ${message}, or set REDIS_URL.\n\n`)
  }
  context.skip()
}

/** A mocha hook (`before(requireRedis)`): skips without Redis, fails on CI. REDIS_URL counts. */
export function requireRedis(this: Mocha.Context): void {
  if (!process.env.REDIS_URL && !hasRedisServer())
    missing('neither REDIS_URL nor redis-server on PATH', this)
}

/** A mocha hook for tests that kill and restart Redis: they need the binary itself. */
export function requireRedisServer(this: Mocha.Context): void {
  if (!hasRedisServer()) missing('redis-server is not on PATH', this)
}

/** A key prefix no other test uses. */
export function uniquePrefix(label = 'test'): string {
  return `${label}:${process.pid}:${randomBytes(6).toString('hex')}:`
}

/**
 * A Redis for tests that only need one: REDIS_URL when set (tests keep to their unique
 * prefixes and remove their keys), else a fresh redis-server on a random port.
 */
export async function testRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const shared = process.env.REDIS_URL
  if (shared) return { url: shared, stop: async () => {} }
  return startRedisServer()
}

export { freePort }

/** Starts `redis-server` on a free port of 127.0.0.1 and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'anywhere-redis-')))
  if (ownDir) ownDirs.add(dir)
  const port = await freePort()
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    ...(options.appendfsync
      ? ['--appendonly', 'yes', '--appendfsync', options.appendfsync]
      : ['--appendonly', 'no']),
    ...(options.cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(options.cluster.busPort),
          '--cluster-node-timeout',
          String(options.cluster.nodeTimeoutMs),
        ]
      : []),
  ]
  let child: ChildProcess | undefined
  let output = ''
  let stopped = false

  const launch = async () => {
    output = ''
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    running.add(started)
    started.once('exit', () => running.delete(started))
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS)
    }
    started.stdout.on('data', append)
    started.stderr.on('data', append)
    try {
      await waitForPong(port, started, () => output)
    } catch (error) {
      await killChild(started, 'SIGKILL')
      throw error
    }
  }

  try {
    await launch()
  } catch (error) {
    if (ownDir) await removeDir(dir)
    throw error
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid ?? -1
    },
    async stop() {
      if (stopped) return
      stopped = true
      if (child) await killChild(child, 'SIGTERM', STOP_GRACE_MS)
      if (ownDir) await removeDir(dir)
    },
    async kill(signal = 'SIGKILL') {
      if (child) await killChild(child, signal)
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): start a new server instead')
      if (child && isAlive(child))
        throw new Error(`redis-server ${child.pid} still runs: kill() it first`)
      await launch()
    },
    output: () => output,
  }
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  ownDirs.delete(dir)
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

async function killChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs?: number,
): Promise<void> {
  if (!isAlive(child)) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  if (graceMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Polls PING on `port` until `+PONG` (not `-LOADING`), the process exits, or the deadline. */
async function waitForPong(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (!isAlive(child))
      throw new Error(
        `redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}):\n${output()}`,
      )
    if (await ping(port)) return
    await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS))
  }
  throw new Error(
    `redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output()}`,
  )
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}
