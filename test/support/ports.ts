// Free TCP ports on 127.0.0.1 for the tests that must name a port before a process binds it.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/**
 * A TCP port free right now on 127.0.0.1, below the kernel's ephemeral range: tests keep such
 * a port across a process's restarts (a fabric's listen address), and one inside the range
 * could meanwhile become the source port of any outbound connection on the machine, which
 * makes the restart's listen fail with EADDRINUSE. Falls back to listen(0) when none is found.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange()
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    if (await canListen(port)) return port
  }
  return listenZero()
}

/** The kernel's ephemeral port range (Linux), or the IANA one elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number)
    if (low && high && low > 11_000) return [low, high]
  } catch {
    // Not Linux: the IANA range.
  }
  return [49_152, 65_535]
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    return true
  } catch {
    return false
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
}

async function listenZero(): Promise<number> {
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
