import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { AnywhereError, ConfigError, LOG_LEVELS } from '../core/index.js'
import {
  AUTH_SCOPES,
  MAX_TOKEN_LENGTH,
  isWellFormedToken,
  tokenDigest,
} from '../transports/http/index.js'
import {
  LOG_FORMATS,
  loadConfigFile,
  mergeConfig,
  parseNodeConfig,
  type NodeConfig,
} from '../node/index.js'
import { createNode } from '../node/index.js'
import { flagsToConfig, type StartFlags } from './start-flags.js'
import { registerRedisCopyCommand } from './redis-copy-command.js'
import { registerEdgeCommand } from './edge-command.js'
import { didYouMean } from './suggest.js'
import { usageHint } from './usage-hint.js'
import { streamTaps } from './tap-client.js'
import { parseTapKinds } from './tap-kinds.js'

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0
  const program = new Command('anywhere-node')
    .description(
      'Runs an Anywhere node: actors, event store, HTTP gateway and (with --fabric-listen) the inter-geo fabric.',
    )
    .version(packageVersion(), '-V, --version', 'print the version of anywhere-node')
    // One hint line of our own instead (usageHint), for every command: set before they are added.
    .showSuggestionAfterError(false)
    .exitOverride()
    .option('--debug', 'print the stack trace of a failure (so does DEBUG=1)')
  // Parsed before commander so that a failure anywhere, argument errors included, honours it.
  const debug = argv.includes('--debug') || Boolean(process.env.DEBUG)

  program
    .command('start', { isDefault: true })
    .description(
      'start a node (the default command). With no config: geo "local", file store in ./.anywhere, gateway on 127.0.0.1:8080, the built-in and sample actors',
    )
    .option(
      '-c, --config <file>',
      'config file: JSON, or a JS/TS module whose default export is the config',
    )
    .option('--host <host>', 'gateway host (default 127.0.0.1)')
    .option('-p, --port <port>', 'gateway port, 0 for any free port (default 8080)', parsePort)
    .option('-d, --data-dir <dir>', 'data directory (default ./.anywhere)')
    .option('--geo <name>', 'this node\'s geo (default "local")')
    .option(
      '--app <name>',
      'app name; fabric peers of another app are refused (default "anywhere")',
    )
    .addOption(
      new Option('--store <kind>', 'event store (default file)').choices([
        'memory',
        'file',
        'redis',
      ]),
    )
    .option('--redis-url <url>', 'Redis URL for --store redis (implies it)')
    .option(
      '--redis-cluster <nodes>',
      'Redis Cluster for --store redis (implies it): some masters as host:port or redis:// URLs, comma-separated',
    )
    .option('--redis-prefix <prefix>', 'key prefix in Redis')
    .option(
      '--members',
      "join the geo's other nodes that share this Redis and prefix (docs/geo.md); needs --redis-url",
    )
    .option(
      '--members-port <port>',
      "port of the channel between the geo's nodes (default 0: any free port)",
      parsePort,
    )
    .option(
      '--fabric-listen <multiaddr>',
      'fabric listen address, e.g. /ip4/127.0.0.1/tcp/7401 (repeatable)',
      collect,
    )
    .option(
      '--peer <multiaddr>',
      'an allowlisted peer, a multiaddr ending in /p2p/<PeerId> (repeatable)',
      collect,
    )
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .option('--log-json', 'log JSON lines (same as --log-format json)')
    .addOption(
      new Option(
        '--log-format <format>',
        'json, pretty (one readable line per entry), or auto: pretty on a terminal, json otherwise',
      ).choices(LOG_FORMATS),
    )
    .option(
      '--built-in-actors',
      "serve the built-in actors (counter, register, set, map) besides the config's (without --config they are always served)",
    )
    .option(
      '--sample-actors',
      "serve the sample actors (cart) besides the config's (without --config they are always served)",
    )
    .action(async (flags: StartFlags) => {
      exitCode = await start({ ...flags, debug })
    })

  program
    .command('id')
    .description("print this node's fabric PeerId, creating its key in the data dir if needed")
    .option('-d, --data-dir <dir>', 'data directory', './.anywhere')
    .option('--key-file <file>', 'key file (default <data-dir>/peer-key)')
    .action(async (flags: { dataDir: string; keyFile?: string }) => {
      const { loadOrCreateIdentity } = await import('../transports/libp2p/index.js')
      const identity = await loadOrCreateIdentity(
        resolve(flags.keyFile ?? join(flags.dataDir, 'peer-key')),
      )
      console.log(identity.peerId)
    })

  registerRedisCopyCommand(
    program,
    (code) => (exitCode = code),
    (error) => reportFatal(error, debug),
  )

  program
    .command('tap')
    .description(
      "stream a running node's tap events (server-sent events from its gateway) as JSON lines",
    )
    .option('-u, --url <url>', "the node's gateway", 'http://127.0.0.1:8080')
    .option(
      '-k, --kind <kinds>',
      'only these kinds, comma-separated (e.g. event.appended,peer.lost)',
    )
    .option('-a, --actor <type/id>', 'only tap events about this actor')
    .addOption(
      new Option(
        '-t, --token <token>',
        "a token with the 'admin' scope, when the node has http.auth",
      ).env('ANYWHERE_TOKEN'),
    )
    .action(async (flags: { url: string; kind?: string; actor?: string; token?: string }) => {
      if (flags.kind !== undefined) parseTapKinds(flags.kind)
      exitCode = await streamTaps(flags, (line) => console.log(line))
    })

  program
    .command('token')
    .description('tokens for http.auth')
    .command('hash')
    .description(
      'print the sha256 of a token (read from stdin, or --token) to put in http.auth.tokens; with --name, the whole entry as JSON',
    )
    .option('--token <token>', 'the token (prefer stdin: a flag shows in the process list)')
    .option('--name <name>', 'print a JSON token entry with this name')
    .addOption(
      new Option('--scope <scope>', 'the scope of the printed entry (with --name)')
        .choices(AUTH_SCOPES)
        .default('read'),
    )
    .action(async (flags: { token?: string; name?: string; scope: string }) => {
      const token = flags.token ?? (await readToken())
      if (!isWellFormedToken(token))
        throw new ConfigError(
          `the token must be 1 to ${MAX_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / (then = padding), as a Bearer token is sent`,
        )
      const sha256 = tokenDigest(token)
      console.log(
        flags.name === undefined
          ? sha256
          : JSON.stringify({ name: flags.name, sha256, scopes: [flags.scope] }),
      )
    })

  program
    .command('dev')
    .description(
      'start N local geos (a, b, c...) linked over the fabric, with commands to partition and heal them',
    )
    .option('-g, --geos <n>', 'how many geos', parseCount, 3)
    .option('-d, --data-dir <dir>', 'data of geo x goes to <dir>/x', './.anywhere-dev')
    .option(
      '--http-port <port>',
      'gateway of geo a; b gets the next port... (0: free ports)',
      parsePort,
      8081,
    )
    .option('--control-port <port>', 'the control endpoint (0: a free port)', parsePort, 8090)
    .addOption(new Option('--log-level <level>', "the geos' log level").choices(LOG_LEVELS))
    .action(
      async (flags: {
        geos: number
        dataDir: string
        httpPort: number
        controlPort: number
        logLevel?: string
      }) => {
        const { runDev } = await import('./dev/index.js')
        exitCode = await runDev({ ...flags, startTimeoutMs: 60_000, stopGraceMs: 10_000 }, (line) =>
          console.log(line),
        )
      },
    )

  registerEdgeCommand(
    program,
    (code) => (exitCode = code),
    (error) => reportFatal(error, debug),
  )

  program
    .command('check')
    .description('type-check (TypeScript) and validate a config file without starting a node')
    .requiredOption('-c, --config <file>', 'the config file: JSON, or a JS/TS module')
    .action(async (flags: { config: string }) => {
      const { checkConfig } = await import('./check.js')
      exitCode = await checkConfig(
        flags.config,
        (line) => console.log(line),
        (line) => console.error(line),
      )
    })

  try {
    refuseUnknownCommand(program, argv)
    await program.parseAsync(argv)
  } catch (error) {
    const code = (error as { code?: string }).code
    if (
      code === 'commander.helpDisplayed' ||
      code === 'commander.help' ||
      code === 'commander.version'
    )
      return 0
    if (code?.startsWith('commander.')) {
      console.error(usageHint(program, argv, (error as Error).message))
      return 2
    }
    return reportFatal(error, debug)
  }
  return exitCode
}

/**
 * `start` is the default command, so commander would read `anywhere-node strat` as start with
 * a stray argument: a first word that names no command is refused here, with the nearest one.
 */
function refuseUnknownCommand(program: Command, argv: readonly string[]): void {
  const word = argv[2]
  if (word === undefined || word.startsWith('-')) return
  const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()])
  if (names.includes(word) || word === 'help') return
  throw new ConfigError(
    `unknown command '${word}'${didYouMean(word, names)} (commands: ${names.join(', ')}; see --help)`,
  )
}

async function start(flags: StartFlags): Promise<number> {
  let config: NodeConfig
  let actors: Awaited<ReturnType<typeof loadConfigFile>>['actors'] = []
  try {
    const fromFile = flags.config ? await loadConfigFile(flags.config) : { config: {}, actors: [] }
    actors = fromFile.actors
    config = parseNodeConfig(
      mergeConfig(
        fromFile.config as Record<string, unknown>,
        flagsToConfig(flags, fromFile.config),
      ),
      flags.config ? `config (${flags.config} and flags)` : 'flags',
    )
  } catch (error) {
    return reportFatal(error, flags.debug)
  }
  let node: Awaited<ReturnType<typeof createNode>>
  try {
    node = await createNode(config, { actors })
  } catch (error) {
    return reportFatal(error, flags.debug)
  }
  let stopping: Promise<void> | undefined
  let stopped!: () => void
  const whenStopped = new Promise<void>((resolveStopped) => (stopped = resolveStopped))
  const shutdown = (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting without waiting`)
      process.exit(1)
    }
    node.logger.info('shutting down', { signal })
    stopping = node.stop().finally(stopped)
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  try {
    await node.start()
  } catch (error) {
    return reportFatal(error, flags.debug)
  }
  const ready = {
    event: 'ready',
    http: node.gateway?.url,
    geo: config.geo,
    nodeId: node.nodeId,
    store: config.store.kind,
    ...(node.fabric ? { peerId: node.fabric.peerId, fabric: node.fabric.listenAddresses() } : {}),
  }
  console.log(JSON.stringify(ready))
  await whenStopped
  return 0
}

/** The token on stdin, without the line end a shell's echo or a terminal adds; read at most a few KB. */
async function readToken(): Promise<string> {
  if (process.stdin.isTTY) console.error('type the token, then Enter and Ctrl-D')
  let text = ''
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8')
    if (text.length > MAX_TOKEN_LENGTH + 2) break
  }
  return text.replace(/\r?\n$/, '')
}

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('must be a port number from 0 to 65535')
  return port
}

function parseCount(value: string): number {
  const count = Number(value)
  if (!Number.isInteger(count) || count < 1)
    throw new InvalidArgumentError('must be a whole number')
  return count
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/**
 * One line (or the config's field list) naming the cause and the fix: exit 2 for bad input
 * (a ConfigError), 1 otherwise. The stack only with --debug or DEBUG set.
 */
export function reportFatal(error: unknown, debug = Boolean(process.env.DEBUG)): number {
  const stack = debug && error instanceof Error && error.stack ? `\n${error.stack}` : ''
  if (error instanceof ConfigError) {
    console.error(`anywhere-node: ${error.message}${stack}`)
    return 2
  }
  if (error instanceof AnywhereError) {
    console.error(`anywhere-node: ${error.name}: ${error.message}${stack}`)
    return 1
  }
  const message = error instanceof Error ? error.message : String(error)
  console.error(
    `anywhere-node: unexpected failure: ${message}${stack || ' (run with --debug for the stack trace)'}`,
  )
  return 1
}

/** This package's version, read from its package.json (two levels up from src and from dist). */
function packageVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(
        readFileSync(fileURLToPath(new URL(candidate, import.meta.url)), 'utf8'),
      ) as { name?: string; version?: string }
      if (manifest.name === 'anywhere-node' && manifest.version) return manifest.version
    } catch {
      // not there from this layout: try the next
    }
  }
  return 'unknown'
}
