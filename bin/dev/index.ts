// `anywhere-node dev`: N local geos as child processes, linked through cuttable proxies, with
// a control endpoint and stdin commands to partition and heal them.
import { ConfigError } from '../../core/index.js'
import { DevCluster } from './cluster.js'
import { DEV_HELP, readStdinCommands, startControlServer } from './control.js'

/** How long geos get to react to a terminal's Ctrl-C themselves before they are sent SIGTERM. */
const TERMINAL_SIGNAL_WAIT_MS = 2_000

export interface DevFlags {
  geos: number
  dataDir: string
  httpPort: number
  controlPort: number
  logLevel?: string
  /** How long every geo has to become healthy. */
  startTimeoutMs: number
  /** How long a geo has to stop after SIGTERM before SIGKILL. */
  stopGraceMs: number
}

/** Runs the dev geos until quit, SIGINT or SIGTERM; resolves to the exit code. */
export async function runDev(flags: DevFlags, print: (line: string) => void): Promise<number> {
  const cluster = new DevCluster({
    geos: flags.geos,
    dataDir: flags.dataDir,
    httpPort: flags.httpPort,
    // The geos' lines are read by a person (prefixed with their geo): readable, not JSON.
    startArgs: [
      '--log-format',
      'pretty',
      ...(flags.logLevel ? ['--log-level', flags.logLevel] : []),
    ],
    print,
  })
  // If this process exits by any path, no geo outlives it.
  const killChildren = () => cluster.killNow()
  process.on('exit', killChildren)
  let quit!: () => void
  const quitting = new Promise<void>((resolve) => (quit = resolve))
  // Ctrl-C in a terminal signals the geos too: give them a moment to begin their own stop.
  let ownSignalMs = 0
  const onSignal = (signal: NodeJS.Signals) => {
    print(`dev: ${signal}: stopping every geo`)
    if (signal === 'SIGINT' && process.stdin.isTTY) ownSignalMs = TERMINAL_SIGNAL_WAIT_MS
    quit()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const aborted = new AbortController()
  void quitting.then(() => aborted.abort(new Error('stopping')))

  const controls = { cluster, quit, print }
  let control: Awaited<ReturnType<typeof startControlServer>> | undefined
  let stopStdin: (() => void) | undefined
  try {
    control = await startControlServer(controls, flags.controlPort)
    print(
      `dev: starting ${cluster.names.length} geos (${cluster.names.join(', ')}) in ${flags.dataDir}`,
    )
    await cluster.start(flags.startTimeoutMs, aborted.signal)
    for (const { name, url } of cluster.urls()) print(`dev: geo ${name}  ${url}`)
    print(
      `dev: control ${control.url}  (POST /partition/<geo>, POST /heal, GET /status, POST /quit)`,
    )
    print(DEV_HELP)
    print(
      JSON.stringify({
        event: 'dev.ready',
        control: control.url,
        geos: Object.fromEntries(cluster.urls().map(({ name, url }) => [name, url])),
      }),
    )
    stopStdin = readStdinCommands(controls)
    await quitting
    return 0
  } catch (error) {
    if (aborted.signal.aborted) return 0
    if (error instanceof ConfigError) throw error
    // A geo that failed to start printed why in its own lines above.
    print(`dev: ${(error as Error).message}; stopping every geo`)
    return 1
  } finally {
    stopStdin?.()
    await cluster.stop(flags.stopGraceMs, ownSignalMs)
    await control?.close()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', killChildren)
    print('dev: every geo stopped')
  }
}
