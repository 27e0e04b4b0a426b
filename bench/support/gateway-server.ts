// A server for bench/gateway.bench.ts, in its own process so it has a core to itself while
// the load generator runs in the parent:
//
//   node --import tsx bench/support/gateway-server.ts anywhere   an Anywhere node (memory store)
//                                                                 (also serves `tally`, a counter that emits nothing;
//                                                                 `anywhere no-metrics`: with metrics.enabled false)
//   node --import tsx bench/support/gateway-server.ts plain      a plain node:http server (the floor)
//   node --import tsx bench/support/gateway-server.ts durable    the same, replying once a line per request
//                                                                 is fdatasync'ed to a file (group commit)
//   node --import tsx bench/support/gateway-server.ts fastify    Fastify set up like the gateway, no runtime
//   node --import tsx bench/support/gateway-server.ts runtime    the plain server, each request asked of an
//                                                                 Anywhere node's runtime (memory store), no gateway
//
// Listens on 127.0.0.1, a free port; prints one JSON line `{"url": ...}` on stdout once it
// listens; stops and exits when its stdin closes (the parent exited or is done) or on SIGTERM.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises'
import Fastify from 'fastify'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import type * as Core from '../../core/index.js'
import type * as Node from '../../node/node.js'

/**
 * The Anywhere node runs the compiled code (dist/, what `npx anywhere-node` and an installed
 * package run), built by the benchmark that starts this server: under tsx the sources carry
 * its per-function helpers and the node costs about a fifth more CPU per request.
 */
const DIST = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist')

/** Same limit as the gateway's default, so both servers refuse the same bodies. */
const BODY_LIMIT_BYTES = 1024 * 1024
const COMMAND_PATH = /^\/v1\/actors\/(?:counter|tally)\/([^/]+)\/increment$/

interface Running {
  url: string
  stop(): Promise<void>
}

/**
 * The built-in counter's command without its event: same input schema, a reply computed from
 * the state, nothing emitted (so nothing persisted). Set against `counter`, it shows what
 * persisting one event costs per request.
 */
const tallyActor = (define: typeof Core.defineActor) =>
  define({
    type: 'tally',
    initialState: { value: 0 },
    events: {},
    apply: (state) => state,
    commands: (command) => ({
      increment: command(
        z.object({ by: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(1) }),
        (ctx, input) => ({ value: ctx.state.value + input.by }),
      ),
    }),
  })

/** A default node on the memory store (compiled code), serving `counter` and `tally`. */
async function anywhereNode(): Promise<{ node: Node.AnywhereNode; stop: () => Promise<void> }> {
  const { createNode } = (await import(join(DIST, 'node', 'node.js'))) as typeof Node
  const { defineActor } = (await import(join(DIST, 'core', 'index.js'))) as typeof Core
  const tally = tallyActor(defineActor)
  const metrics = process.argv[3] !== 'no-metrics'
  const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-bench-'))
  const node = await createNode(
    {
      dataDir,
      store: { kind: 'memory' },
      http: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
      metrics: { enabled: metrics },
    },
    { actors: [tally] },
  )
  await node.start()
  return {
    node,
    stop: async () => {
      await node.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

async function startAnywhere(): Promise<Running> {
  const { node, stop } = await anywhereNode()
  return { url: node.gateway!.url, stop }
}

/**
 * What the plain server answers to a parsed request: a status and a JSON body, at once when
 * it can (the floor replies in the request's own turn, as it did before answers were pluggable).
 */
type Answer = (
  id: string,
  input: Record<string, unknown>,
) => [number, unknown] | Promise<[number, unknown]>

/**
 * The floor's answer: checks `by`, keeps a counter per id in a Map and replies `{ value }`
 * (once a line recording the request is durable, with a journal).
 */
function mapCounter(journal?: GroupCommitJournal): Answer {
  const counters = new Map<string, number>()
  return (id, input) => {
    const by = input.by ?? 1
    if (typeof by !== 'number' || !Number.isInteger(by) || by <= 0)
      return [400, { error: 'ValidationError' }]
    const value = (counters.get(id) ?? 0) + by
    counters.set(id, value)
    if (!journal) return [200, { value }]
    return journal.append(`${JSON.stringify({ id, by, value })}\n`).then(
      () => [200, { value }],
      () => [503, { error: 'StoreUnavailableError' }],
    )
  }
}

/**
 * The plain server with no gateway in front of the runtime: each request is asked of the
 * node's `counter` actor (validated, one event appended to the memory store and folded
 * before the reply). What any HTTP layer on this runtime could at best reach.
 */
async function startRuntime(): Promise<Running> {
  const { node, stop } = await anywhereNode()
  const answer: Answer = async (id, input) => {
    try {
      return [200, await node.runtime.ask('counter', id, 'increment', input)]
    } catch (error) {
      // Only 2xx count in the benchmark: any refusal shows there as a non-2xx.
      const name = error instanceof Error ? error.name : 'Error'
      return [name === 'ValidationError' ? 400 : 500, { error: name }]
    }
  }
  const plain = await startPlain(answer)
  return {
    url: plain.url,
    async stop() {
      await plain.stop()
      await stop()
    },
  }
}

/**
 * The floor: node:http answering the same request with the same kind of JSON. It reads and
 * parses the body and replies what `answer` computes (the floor's own: a Map counter, what
 * the gateway does minus the framework, validation library, mailbox and store).
 */
async function startPlain(answer: Answer, close?: () => Promise<void>): Promise<Running> {
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    res.end(text)
  }
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const match = req.method === 'POST' ? COMMAND_PATH.exec(req.url ?? '') : null
    if (!match) return reply(res, 404, { error: 'NotFound' })
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= BODY_LIMIT_BYTES) chunks.push(chunk)
    })
    req.on('end', () => {
      if (size > BODY_LIMIT_BYTES) return reply(res, 413, { error: 'PayloadTooLargeError' })
      let input: unknown
      try {
        const text = Buffer.concat(chunks).toString('utf8')
        input = text.trim() === '' ? {} : JSON.parse(text)
      } catch {
        return reply(res, 400, { error: 'ValidationError' })
      }
      if (typeof input !== 'object' || input === null)
        return reply(res, 400, { error: 'ValidationError' })
      const answered = answer(match[1]!, input as Record<string, unknown>)
      if (!(answered instanceof Promise)) return reply(res, answered[0], answered[1])
      void answered.then(([status, body]) => reply(res, status, body))
    })
  }
  const server = createServer({ keepAliveTimeout: 60_000 }, handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
      await close?.()
    },
  }
}

/**
 * The durable floor: the plain server, replying only once a line recording the request is
 * durable in an append-only file. Lines that arrive while a write and `fdatasync` are under
 * way wait and go together in the next (group commit), which is what any durable store on
 * one disk can at best do: the honest limit of a durable HTTP write on this machine.
 */
class GroupCommitJournal {
  private waiting: { line: string; done: () => void; failed: (error: unknown) => void }[] = []
  private flushing = false

  private constructor(
    private readonly dir: string,
    private readonly file: FileHandle,
  ) {}

  static async open(): Promise<GroupCommitJournal> {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-bench-durable-'))
    return new GroupCommitJournal(dir, await open(join(dir, 'journal'), 'a'))
  }

  append(line: string): Promise<void> {
    return new Promise((done, failed) => {
      this.waiting.push({ line, done, failed })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.flushing = true
    while (this.waiting.length > 0) {
      const batch = this.waiting
      this.waiting = []
      try {
        await this.file.write(batch.map((w) => w.line).join(''))
        await this.file.datasync()
        for (const w of batch) w.done()
      } catch (error) {
        for (const w of batch) w.failed(error)
      }
    }
    this.flushing = false
  }

  async close(): Promise<void> {
    await this.file.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * A reference that splits the gateway's cost: Fastify with the settings, body parser, onSend
 * hook and params schema of transports/http/gateway.ts, answering from a Map like the floor.
 * The gap to the floor is the framework's; the gap from here to the gateway is the runtime's.
 */
async function startFastify(): Promise<Running> {
  const counters = new Map<string, number>()
  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') return done(null, {})
    try {
      done(null, JSON.parse(text))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-anywhere-geo', 'local')
    done(null, payload)
  })
  const name = { type: 'string', maxLength: 256 } as const
  const params = {
    type: 'object',
    properties: { type: name, id: name, command: name },
  } as const
  app.post<{ Params: { id: string }; Body: { by?: unknown } }>(
    '/v1/actors/:type/:id/:command',
    { schema: { params } },
    async (request, reply) => {
      const by = request.body?.by ?? 1
      if (typeof by !== 'number' || !Number.isInteger(by) || by <= 0)
        return reply.code(400).send({ error: 'ValidationError' })
      const value = (counters.get(request.params.id) ?? 0) + by
      counters.set(request.params.id, value)
      return reply.send({ value })
    },
  )
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, stop: () => app.close() }
}

const starters = {
  anywhere: startAnywhere,
  plain: () => startPlain(mapCounter()),
  durable: async () => {
    const journal = await GroupCommitJournal.open()
    return startPlain(mapCounter(journal), () => journal.close())
  },
  fastify: startFastify,
  runtime: startRuntime,
}
const kind = process.argv[2]
if (!(kind !== undefined && Object.hasOwn(starters, kind))) {
  process.stderr.write(`usage: gateway-server.ts ${Object.keys(starters).join('|')}\n`)
  process.exit(2)
}
const server = await starters[kind as keyof typeof starters]()
process.stdout.write(JSON.stringify({ url: server.url }) + '\n')

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await server.stop()
  process.exit(0)
}
process.stdin.on('end', () => void stop())
process.stdin.on('close', () => void stop())
process.stdin.resume()
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
