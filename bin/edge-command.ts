// `anywhere-node edge`: the front door in front of every geo.
import { InvalidArgumentError, Option, type Command } from 'commander'
import { LOG_LEVELS, streamLogger, type LogLevel } from '../core/index.js'

interface EdgeFlags {
  host?: string
  port?: number
  geo?: string[]
  discover?: string[]
  probeIntervalMs?: number
  probeTimeoutMs?: number
  logLevel?: LogLevel
  logJson?: boolean
}

/** Adds the `edge` command to the CLI; `done` receives its exit code. */
export function registerEdgeCommand(
  program: Command,
  done: (exitCode: number) => void,
  reportFatal: (error: unknown) => number,
): void {
  program
    .command('edge')
    .description(
      'start an edge: one address that sends each request to the nearest ready geo (and away from a geo that is down or overloaded)',
    )
    .option('--host <host>', 'listen host (default 127.0.0.1)')
    .option('-p, --port <port>', 'listen port, 0 for any free port (default 8000)', parseInteger)
    .option(
      '-g, --geo <[name=]url>',
      "a geo's gateway URL, e.g. eu=http://10.0.0.5:8080 (repeatable)",
      collect,
    )
    .option(
      '--discover <url>',
      'a geo to ask (GET /v1/fabric) for the URLs the other geos advertise (repeatable)',
      collect,
    )
    .option('--probe-interval-ms <ms>', 'how often each geo is probed (default 250)', parseInteger)
    .option(
      '--probe-timeout-ms <ms>',
      'a probe not answered within this marks the geo down (default 1000)',
      parseInteger,
    )
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .option('--log-json', 'log JSON lines')
    .action(async (flags: EdgeFlags) => done(await runEdge(flags, reportFatal)))
}

async function runEdge(flags: EdgeFlags, reportFatal: (error: unknown) => number): Promise<number> {
  const { edge } = await import('../transports/http/edge/index.js')
  const logger = streamLogger({ level: flags.logLevel ?? 'info', json: flags.logJson ?? false })
  let server: ReturnType<ReturnType<typeof edge>>
  try {
    server = edge({
      ...(flags.host !== undefined ? { host: flags.host } : {}),
      ...(flags.port !== undefined ? { port: flags.port } : {}),
      ...(flags.probeIntervalMs !== undefined ? { probeIntervalMs: flags.probeIntervalMs } : {}),
      ...(flags.probeTimeoutMs !== undefined ? { probeTimeoutMs: flags.probeTimeoutMs } : {}),
      geos: (flags.geo ?? []).map(parseGeo),
      discover: flags.discover ?? [],
    })({ logger: logger.child({ component: 'edge' }) })
  } catch (error) {
    return reportFatal(error)
  }
  let stopping = false
  const whenStopped = new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      if (stopping) process.exit(1)
      stopping = true
      logger.info('shutting down', { signal })
      void server.stop().finally(resolve)
    }
    process.on('SIGINT', () => shutdown('SIGINT'))
    process.on('SIGTERM', () => shutdown('SIGTERM'))
  })
  try {
    await server.start()
  } catch (error) {
    await server.stop()
    return reportFatal(error)
  }
  console.log(JSON.stringify({ event: 'ready', http: server.url, edge: true, ...server.status() }))
  await whenStopped
  return 0
}

/** `name=url` or `url`. */
function parseGeo(value: string): { url: string; name?: string } {
  const match = /^([a-z][a-z0-9-]{0,62})=(.+)$/.exec(value)
  return match ? { name: match[1]!, url: match[2]! } : { url: value }
}

function parseInteger(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number')
  return n
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}
