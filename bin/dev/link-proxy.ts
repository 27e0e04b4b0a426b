// One fabric link of `anywhere-node dev`: a TCP proxy that can be cut (a partition) and restored.
import { createConnection, createServer, type Socket } from 'node:net'

export interface LinkProxy {
  /** The port it listens on, on 127.0.0.1: the address the dialling geo is given for its peer. */
  readonly port: number
  /** Whether the link is cut now. */
  readonly isCut: boolean
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void
  /** Forwards again. */
  restore(): void
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>
}

/** Starts a proxy on 127.0.0.1 (a free port) that forwards to `127.0.0.1:targetPort`. */
export async function startLinkProxy(
  targetPort: number,
  options: { signal?: AbortSignal } = {},
): Promise<LinkProxy> {
  const pairs = new Set<[Socket, Socket]>()
  let cut = false
  let closing: Promise<void> | undefined
  const destroyAll = () => {
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy()
      upstream.resetAndDestroy()
    }
    pairs.clear()
  }
  const server = createServer((client) => {
    if (cut || closing) {
      client.resetAndDestroy()
      return
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => {
      if (!pairs.delete(pair)) return
      client.destroy()
      upstream.destroy()
    }
    for (const socket of pair) {
      socket.on('error', end)
      socket.on('close', end)
    }
  })
  await new Promise<void>((resolve, reject) => {
    options.signal?.throwIfAborted()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the link proxy has no TCP address')
  return {
    port: address.port,
    get isCut() {
      return cut
    },
    cut() {
      cut = true
      destroyAll()
    },
    restore() {
      cut = false
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        destroyAll()
        server.close(() => resolve())
      })
      return closing
    },
  }
}
