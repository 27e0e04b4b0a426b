// How a person or a script drives `anywhere-node dev`: lines on stdin, or a small HTTP
// endpoint on 127.0.0.1. Both run the same commands.
import { createServer, type Server } from 'node:http'
import { createInterface } from 'node:readline'
import { ConfigError } from '../../core/index.js'
import type { DevCluster } from './cluster.js'

/** Longest stdin line read as a command. */
const MAX_COMMAND_CHARS = 200

export const DEV_HELP = [
  'commands:',
  '  partition <geo>   cut <geo> off from the other geos (its fabric links are dropped and refused)',
  '  heal              restore every link; the geos converge',
  '  status            each geo, its URL and its peers as its /v1/fabric reports them',
  '  help              this text',
  '  quit              stop every geo and exit (so does Ctrl-C)',
  'HTTP on the control URL: POST /partition/<geo>, POST /heal, GET /status, POST /quit',
].join('\n')

export interface DevControls {
  cluster: DevCluster
  quit: () => void
  print: (line: string) => void
}

/** Reads commands from stdin, one a line; an unknown one prints the help. EOF is ignored (scripts). */
export function readStdinCommands(controls: DevControls): () => void {
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    const words = line.slice(0, MAX_COMMAND_CHARS).trim().split(/\s+/)
    void runStdinCommand(controls, words)
  })
  return () => lines.close()
}

async function runStdinCommand(controls: DevControls, words: string[]): Promise<void> {
  const { cluster, print } = controls
  const [command, argument] = words
  try {
    switch (command) {
      case '':
        return
      case 'partition':
        if (!argument) throw new ConfigError(`partition needs a geo: ${cluster.names.join(', ')}`)
        cluster.partition(argument)
        return print(`dev: geo ${argument} is cut off from the others; 'heal' restores its links`)
      case 'heal':
        cluster.heal()
        return print('dev: every link restored; watch for "partition healed" in the logs')
      case 'status':
        for (const geo of await cluster.status()) print(`dev: ${JSON.stringify(geo)}`)
        return
      case 'quit':
      case 'exit':
        return controls.quit()
      case 'help':
        return print(DEV_HELP)
      default:
        return print(`dev: unknown command '${command}'\n${DEV_HELP}`)
    }
  } catch (error) {
    print(`dev: ${(error as Error).message}`)
  }
}

/** Serves the control endpoint on 127.0.0.1:`port` (0: any free port); resolves once listening. */
export async function startControlServer(
  controls: DevControls,
  port: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  const { cluster } = controls
  const server: Server = createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body) + '\n')
    }
    // Nothing here reads a body: it is drained, never buffered.
    request.resume()
    // Only tools on this machine: a web page (it sends Origin) or a DNS-rebound name (its
    // Host is not loopback) may not cut links or stop the geos.
    if (!fromLocalTool(request.headers.host, request.headers.origin))
      return send(403, {
        error: 'Forbidden',
        message:
          'the dev control endpoint answers only local tools (Host 127.0.0.1 or localhost, no Origin)',
      })
    const path = new URL(request.url ?? '/', 'http://control').pathname
    const partition = /^\/partition\/([^/]+)$/.exec(path)
    void (async () => {
      if (request.method === 'POST' && partition) {
        const geo = decodeURIComponent(partition[1]!)
        if (!cluster.names.includes(geo))
          return send(404, {
            error: 'NotFound',
            message: `no geo '${geo}'; the geos are ${cluster.names.join(', ')}`,
          })
        cluster.partition(geo)
        controls.print(`dev: geo ${geo} is cut off from the others (control endpoint)`)
        return send(200, { partitioned: geo })
      }
      if (request.method === 'POST' && path === '/heal') {
        cluster.heal()
        controls.print('dev: every link restored (control endpoint)')
        return send(200, { healed: true })
      }
      if (request.method === 'GET' && path === '/status')
        return send(200, { geos: await cluster.status() })
      if (request.method === 'POST' && path === '/quit') {
        send(202, { stopping: true })
        return controls.quit()
      }
      send(404, {
        error: 'NotFound',
        message: `no route ${request.method} ${path}: POST /partition/<geo>, POST /heal, GET /status, POST /quit`,
      })
    })().catch((error: unknown) => send(500, { error: 'InternalError', message: String(error) }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new ConfigError(
              `the dev control endpoint cannot listen: 127.0.0.1:${port} is already in use; pick another with --control-port (0 picks a free one)`,
              { cause: error },
            )
          : error,
      ),
    )
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no TCP address')
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A request from curl or a script on this machine, not from a browser page or a rebound DNS name. */
export function fromLocalTool(host: string | undefined, origin: string | undefined): boolean {
  if (origin !== undefined) return false
  return host !== undefined && /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(host)
}
