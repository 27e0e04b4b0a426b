// The geos of `anywhere-node dev`: identities, ports, a proxy on every fabric link, the child
// processes, and partitions made by cutting the proxies.
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { ConfigError } from '../../core/index.js'
import { loadOrCreateIdentity } from '../../transports/libp2p/index.js'
import { spawnGeo, type GeoProcess } from './geo-process.js'
import { startLinkProxy, type LinkProxy } from './link-proxy.js'

/** At most this many geos: names are single letters. */
export const MAX_DEV_GEOS = 26

export interface DevClusterInit {
  geos: number
  /** Data of geo x goes to `<dataDir>/x`. */
  dataDir: string
  /** Gateway of the i-th geo (0-based) on `httpPort + i`; 0 lets each pick a free port. */
  httpPort: number
  /** Extra arguments of every `anywhere-node start` (e.g. --log-level). */
  startArgs: readonly string[]
  print: (line: string) => void
}

export interface DevGeoStatus {
  name: string
  url: string | undefined
  pid: number
  running: boolean
  partitioned: boolean
  /** The geo's own `GET /v1/fabric`, or why it could not be read. */
  fabric: unknown
}

export class DevCluster {
  readonly names: readonly string[]
  private readonly geos = new Map<string, GeoProcess>()
  /** `from->to`: the proxy that `from` dials to reach `to`. */
  private readonly links = new Map<string, LinkProxy>()
  private readonly partitioned = new Set<string>()
  private stopping: Promise<void> | undefined

  constructor(private readonly init: DevClusterInit) {
    if (!Number.isInteger(init.geos) || init.geos < 2 || init.geos > MAX_DEV_GEOS)
      throw new ConfigError(`--geos ${init.geos}: must be a whole number from 2 to ${MAX_DEV_GEOS}`)
    this.names = Array.from({ length: init.geos }, (_, i) => String.fromCharCode(97 + i))
  }

  /** Creates identities and proxies, starts every geo and waits until each is healthy. */
  async start(deadlineMs: number, signal?: AbortSignal): Promise<void> {
    await this.refuseTakenHttpPorts()
    const peers = new Map<string, { peerId: string; fabricPort: number }>()
    for (const name of this.names) {
      const dir = this.dataDirOf(name)
      const { peerId } = await loadOrCreateIdentity(join(dir, 'peer-key'))
      peers.set(name, { peerId, fabricPort: await freePort() })
    }
    for (const from of this.names)
      for (const to of this.names)
        if (from !== to)
          this.links.set(
            `${from}->${to}`,
            await startLinkProxy(peers.get(to)!.fabricPort, { signal }),
          )
    this.names.forEach((name, i) => {
      const args = [
        '--geo',
        name,
        '--data-dir',
        this.dataDirOf(name),
        '--port',
        String(this.init.httpPort === 0 ? 0 : this.init.httpPort + i),
        '--fabric-listen',
        `/ip4/127.0.0.1/tcp/${peers.get(name)!.fabricPort}`,
        ...this.names
          .filter((other) => other !== name)
          .flatMap((other) => [
            '--peer',
            `/ip4/127.0.0.1/tcp/${this.links.get(`${name}->${other}`)!.port}/p2p/${peers.get(other)!.peerId}`,
          ]),
        ...this.init.startArgs,
      ]
      this.geos.set(name, spawnGeo(name, args, this.init.print))
    })
    await Promise.all([...this.geos.values()].map((geo) => geo.waitHealthy(deadlineMs, signal)))
  }

  /** The gateway URL of each geo. */
  urls(): Array<{ name: string; url: string | undefined }> {
    return [...this.geos.values()].map((geo) => ({ name: geo.name, url: geo.url }))
  }

  /** Cuts geo `name` off from every other geo: its links are destroyed and refused until `heal()`. */
  partition(name: string): void {
    if (!this.names.includes(name))
      throw new ConfigError(`no geo '${name}'; the geos are ${this.names.join(', ')}`)
    this.partitioned.add(name)
    for (const [key, proxy] of this.links) {
      const [from, to] = key.split('->')
      if (from === name || to === name) proxy.cut()
    }
  }

  /** Restores every link. */
  heal(): void {
    this.partitioned.clear()
    for (const proxy of this.links.values()) proxy.restore()
  }

  /** Each geo, with its fabric status as the geo reports it. */
  async status(signal?: AbortSignal): Promise<DevGeoStatus[]> {
    return Promise.all(
      [...this.geos.values()].map(async (geo) => {
        let fabric: unknown
        try {
          if (!geo.url || geo.exited) throw new Error('not running')
          const timeout = AbortSignal.timeout(2_000)
          const reply = await fetch(`${geo.url}/v1/fabric`, {
            signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          })
          fabric = await reply.json()
        } catch (error) {
          fabric = { error: (error as Error).message }
        }
        return {
          name: geo.name,
          url: geo.url,
          pid: geo.pid,
          running: !geo.exited,
          partitioned: this.partitioned.has(geo.name),
          fabric,
        }
      }),
    )
  }

  /** Stops every geo (SIGTERM, SIGKILL after `graceMs`; see GeoProcess.stop) and every proxy. Idempotent. */
  stop(graceMs: number, ownSignalMs = 0): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.geos.values()].map((geo) => geo.stop(graceMs, ownSignalMs)))
      await Promise.all([...this.links.values()].map((proxy) => proxy.close()))
    })()
    return this.stopping
  }

  /** SIGKILL to every child still running: for `process.on('exit')`, which must be synchronous. */
  killNow(): void {
    for (const geo of this.geos.values()) geo.killNow()
  }

  /**
   * A gateway port that is taken is named here, with dev's own option: a geo that failed on it
   * would name `start`'s (--port), which dev does not take.
   */
  private async refuseTakenHttpPorts(): Promise<void> {
    const first = this.init.httpPort
    if (first === 0) return
    const last = first + this.names.length - 1
    if (last > 65_535)
      throw new ConfigError(
        `--http-port ${first}: the ${this.names.length} geos need ports ${first}-${last}, past 65535; pick a lower one (0 picks free ports)`,
      )
    const taken: string[] = []
    for (const [i, name] of this.names.entries())
      if (!(await isFree(first + i))) taken.push(`${first + i} (geo ${name})`)
    if (taken.length > 0)
      throw new ConfigError(
        `the geos' gateways cannot listen: 127.0.0.1:${taken.join(', ')} ${taken.length === 1 ? 'is' : 'are'} already in use; stop what holds ${taken.length === 1 ? 'it' : 'them'} or pick other ports with --http-port (0 picks free ports)`,
      )
  }

  private dataDirOf(name: string): string {
    return resolve(this.init.dataDir, name)
  }
}

/** Whether `port` on 127.0.0.1 can be listened on right now. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer()
  const listening = await new Promise<boolean>((resolveListen) => {
    server.once('error', () => resolveListen(false))
    server.listen(port, '127.0.0.1', () => resolveListen(true))
  })
  if (listening) await new Promise<void>((resolveClose) => server.close(() => resolveClose()))
  return listening
}

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolvePort, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolvePort())
  })
  const address = server.address()
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()))
  if (!address || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}
