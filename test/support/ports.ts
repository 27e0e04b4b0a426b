// Free TCP ports on 127.0.0.1 for the tests that must name a port before a process binds it.
import { createServer } from 'node:net'

/** A TCP port free right now on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (!address || typeof address === 'string') throw new Error('no port from listen(0)')
  return address.port
}

/** The first of `count` consecutive ports free now on 127.0.0.1 (probed, from a random base). */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    const servers = []
    try {
      for (let i = 0; i < count; i++) {
        const server = createServer()
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(base + i, '127.0.0.1', () => resolve())
        })
        servers.push(server)
      }
      return base
    } catch {
      // Taken: try another base.
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
    }
  }
  throw new Error(`no ${count} consecutive free ports found`)
}
