// A TCP proxy for one fabric link: the test can cut it, delay it, freeze it and restore it.
import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxyInit {
  /** Where the proxy forwards to. */
  targetPort: number
  targetHost?: string
  /** Port to listen on (default 0: any free port). */
  port?: number
}

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number
  /** Where it forwards to (can be changed, e.g. after the target restarts on a new port). */
  targetPort: number
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void
  /** Holds every byte in both directions (sockets stay open): a frozen peer. */
  freeze(): void
  /** Adds `ms` of one-way latency to every chunk in both directions (0 removes it). */
  delay(ms: number): void
  /** Forwards again: undoes `cut()` and `freeze()` (not `delay()`). */
  restore(): void
  /** Connections open now. */
  readonly connections: number
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>
}

interface Pipe {
  client: Socket
  upstream: Socket
  /** Chunks held while frozen or delayed, per direction, with their release time. */
  held: Array<{ to: Socket; data: Buffer; at: number }>
  timer: NodeJS.Timeout | undefined
}

/** Starts a proxy on 127.0.0.1 that forwards to `targetHost:targetPort`. */
export async function startTcpProxy(init: TcpProxyInit): Promise<TcpProxy> {
  const host = init.targetHost ?? '127.0.0.1'
  const pipes = new Set<Pipe>()
  let mode: 'open' | 'cut' | 'frozen' = 'open'
  let delayMs = 0
  let closed = false

  const pump = (pipe: Pipe) => {
    if (pipe.timer) return
    const now = Date.now()
    while (pipe.held.length > 0 && mode !== 'frozen') {
      const next = pipe.held[0]!
      if (next.at > now) {
        pipe.timer = setTimeout(() => {
          pipe.timer = undefined
          pump(pipe)
        }, next.at - now)
        return
      }
      pipe.held.shift()
      if (!next.to.destroyed) next.to.write(next.data)
    }
  }

  const forward = (pipe: Pipe, to: Socket, data: Buffer) => {
    if (mode === 'cut') return
    if (mode === 'open' && delayMs === 0 && pipe.held.length === 0) {
      to.write(data)
      return
    }
    const last = pipe.held.at(-1)?.at ?? 0
    pipe.held.push({ to, data, at: Math.max(Date.now() + delayMs, last) })
    pump(pipe)
  }

  const destroy = (pipe: Pipe) => {
    if (pipe.timer) clearTimeout(pipe.timer)
    pipe.timer = undefined
    pipe.held = []
    pipe.client.resetAndDestroy()
    pipe.upstream.resetAndDestroy()
    pipes.delete(pipe)
  }

  const server: Server = createServer((client) => {
    if (mode === 'cut' || closed) {
      client.resetAndDestroy()
      return
    }
    const upstream = createConnection({ host, port: proxy.targetPort })
    const pipe: Pipe = { client, upstream, held: [], timer: undefined }
    pipes.add(pipe)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.on('data', (data) => forward(pipe, upstream, data))
    upstream.on('data', (data) => forward(pipe, client, data))
    const end = () => destroy(pipe)
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the proxy has no TCP address')

  const proxy: TcpProxy = {
    port: address.port,
    targetPort: init.targetPort,
    get connections() {
      return pipes.size
    },
    cut() {
      mode = 'cut'
      for (const pipe of [...pipes]) destroy(pipe)
    },
    freeze() {
      if (mode === 'open') mode = 'frozen'
    },
    delay(ms) {
      delayMs = Math.max(0, ms)
    },
    restore() {
      mode = 'open'
      for (const pipe of pipes) pump(pipe)
    },
    async close() {
      if (closed) return
      closed = true
      for (const pipe of [...pipes]) destroy(pipe)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
