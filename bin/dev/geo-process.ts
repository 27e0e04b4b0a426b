// One geo of `anywhere-node dev`: a real `anywhere-node start` child process, its log lines
// prefixed with its name, waited on until healthy, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** Longest ready line read from a child's stdout before it is treated as log output. */
const MAX_LINE_CHARS = 64 * 1024

export interface GeoProcess {
  readonly name: string
  readonly pid: number
  /** The gateway URL, known once the child printed its ready line. */
  readonly url: string | undefined
  /** True once the child has exited. */
  readonly exited: boolean
  /** Resolves with the gateway URL once `/healthz` answers 200; rejects at the deadline or on exit. */
  waitHealthy(deadlineMs: number, signal?: AbortSignal): Promise<string>
  /**
   * SIGTERM (unless the child is already shutting down), SIGKILL after `graceMs`; resolves
   * once exited. With `ownSignalMs`, first waits that long for the child to start stopping by
   * itself (a terminal's Ctrl-C reaches every process of the group): a second signal would
   * make it exit without its clean stop.
   */
  stop(graceMs: number, ownSignalMs?: number): Promise<void>
  /** SIGKILL now (for `process.on('exit')`: synchronous). */
  killNow(): void
}

/**
 * A geo's own line, as dev prints it: a hint that names an option of `start` that dev sets
 * itself names dev's option instead (a port taken after dev checked it).
 */
export function relayedLine(line: string): string {
  if (!line.includes('the gateway cannot listen')) return line
  return line.replace(
    /pick another port with --port \(0 picks a free one\)/,
    'pick other ports with anywhere-node dev --http-port (0 picks free ports)',
  )
}

/** Starts `anywhere-node start <args>` with the CLI that runs this process. */
export function spawnGeo(
  name: string,
  args: readonly string[],
  print: (line: string) => void,
): GeoProcess {
  // process.argv[1] is the CLI entry that runs now (sources through tsx, or the compiled one).
  const child: ChildProcess = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1]!, 'start', ...args],
    { detached: false, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let url: string | undefined
  let shuttingDown = false
  let exited = false
  const whenExited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true
      print(`[${name}] exited (${signal ?? `code ${code}`})`)
      resolve()
    }),
  )
  const onLine = (line: string) => {
    if (url === undefined && line.startsWith('{"event":"ready"') && line.length < MAX_LINE_CHARS) {
      try {
        url = (JSON.parse(line) as { http: string }).http
      } catch {
        // Not the ready line after all: printed below like any other.
      }
    }
    if (line.includes('shutting down')) shuttingDown = true
    print(`[${name}] ${relayedLine(line)}`)
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', onLine)

  return {
    name,
    pid: child.pid ?? -1,
    get url() {
      return url
    },
    get exited() {
      return exited
    },
    async waitHealthy(deadlineMs, signal) {
      const deadline = Date.now() + deadlineMs
      let last = 'no ready line yet'
      while (Date.now() < deadline) {
        signal?.throwIfAborted()
        if (exited) throw new Error(`geo ${name} exited before it was healthy`)
        if (url !== undefined) {
          try {
            const reply = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })
            if (reply.ok) return url
            last = `/healthz answered ${reply.status}`
          } catch (error) {
            last = (error as Error).message
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`geo ${name} was not healthy within ${deadlineMs} ms (${last})`)
    },
    async stop(graceMs, ownSignalMs = 0) {
      const waitUntil = Date.now() + ownSignalMs
      while (!exited && !shuttingDown && Date.now() < waitUntil)
        await new Promise((resolve) => setTimeout(resolve, 50))
      if (exited) return
      // A Ctrl-C in a terminal reached the child too: a second signal would skip its clean stop.
      if (!shuttingDown) child.kill('SIGTERM')
      const timer = setTimeout(() => {
        print(`[${name}] did not stop within ${graceMs} ms: SIGKILL`)
        child.kill('SIGKILL')
      }, graceMs)
      await whenExited
      clearTimeout(timer)
    },
    killNow() {
      if (!exited) child.kill('SIGKILL')
    },
  }
}
