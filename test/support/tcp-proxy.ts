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
  /**
   * A one-way cut: holds every byte in one direction (`toTarget`: from the dialler to the
   * target; `toClient`: back), sockets open, the other direction flowing. TCP sees its data
   * unacknowledged, as on a real one-way loss; the peers' own timeouts decide what breaks.
   */
  cutDirection(direction: ProxyDirection): void
  /** Forwards again: undoes `cut()`, `freeze()` and `cutDirection()` (not `delay()`). */
  restore(): void
  /** Connections open now. */
  readonly connections: number
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>
}

/** `toTarget`: bytes the dialling side sends; `toClient`: bytes the target sends back. */
export type ProxyDirection = 'toTarget' | 'toClient'

interface Held {
  to: Socket
  data: Buffer
  at: number
}

interface Pipe {
  client: Socket
  upstream: Socket
  /** Chunks held while frozen, cut one way or delayed, per direction, with their release time. */
  held: Record<ProxyDirection, Held[]>
  timers: Record<ProxyDirection, NodeJS.Timeout | undefined>
}

/** Starts a proxy on 127.0.0.1 that forwards to `targetHost:targetPort`. */
export async function startTcpProxy(init: TcpProxyInit): Promise<TcpProxy> {
  const host = init.targetHost ?? '127.0.0.1'
  const pipes = new Set<Pipe>()
  let mode: 'open' | 'cut' | 'frozen' = 'open'
  let delayMs = 0
  let closed = false
  const blocked = new Set<ProxyDirection>()

  const pump = (pipe: Pipe, direction: ProxyDirection) => {
    if (pipe.timers[direction]) return
    const held = pipe.held[direction]
    const now = Date.now()
    while (held.length > 0 && mode !== 'frozen' && !blocked.has(direction)) {
      const next = held[0]!
      if (next.at > now) {
        pipe.timers[direction] = setTimeout(() => {
          pipe.timers[direction] = undefined
          pump(pipe, direction)
        }, next.at - now)
        return
      }
      held.shift()
      if (!next.to.destroyed) next.to.write(next.data)
    }
  }

  const forward = (pipe: Pipe, to: Socket, data: Buffer) => {
    if (mode === 'cut') return
    const direction: ProxyDirection = to === pipe.upstream ? 'toTarget' : 'toClient'
    const held = pipe.held[direction]
    if (mode === 'open' && delayMs === 0 && held.length === 0 && !blocked.has(direction)) {
      to.write(data)
      return
    }
    const last = held.at(-1)?.at ?? 0
    held.push({ to, data, at: Math.max(Date.now() + delayMs, last) })
    pump(pipe, direction)
  }

  const destroy = (pipe: Pipe) => {
    for (const direction of ['toTarget', 'toClient'] as const) {
      clearTimeout(pipe.timers[direction])
      pipe.timers[direction] = undefined
      pipe.held[direction] = []
    }
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
    const pipe: Pipe = {
      client,
      upstream,
      held: { toTarget: [], toClient: [] },
      timers: { toTarget: undefined, toClient: undefined },
    }
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
    cutDirection(direction) {
      blocked.add(direction)
    },
    restore() {
      mode = 'open'
      blocked.clear()
      for (const pipe of pipes) {
        pump(pipe, 'toTarget')
        pump(pipe, 'toClient')
      }
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
