// N real `anywhere-node` processes, one geo each, on 127.0.0.1, with a TCP proxy on every
// fabric link so a test can cut, delay, freeze and restore it. Everything is torn down by
// `stop()` (and `stopAllMultiGeos()` in a root or afterEach hook), even when a test fails.
import { mkdtemp, rm } from 'node:fs/promises'
import { freePort } from './ports.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FabricStatus } from '../../core/fabric.js'
import { runNodeCommand, startNodeProcess, type NodeProcess } from './node-process.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'

export interface MultiGeoInit {
  /** Geo names, one node process each (e.g. `['a', 'b', 'c']`). */
  geos: readonly string[]
  /** Event store of every node (default `memory`). */
  store?: 'memory' | 'file'
  /** App name (default: the CLI's). */
  app?: string
  /** Log level of the nodes (default `warn`; their output is kept for failure messages). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /** How long a node may take to print its ready line. */
  startTimeoutMs?: number
  /** A config file every node loads (`--config`), e.g. a module that adds test actors. */
  configFile?: string
  /** A config file per geo, overriding `configFile` for the geos it names. */
  configFiles?: Readonly<Record<string, string>>
  /** Node's own flags per geo (e.g. `--cpu-prof` for a benchmark's profile). */
  nodeArgs?: Readonly<Record<string, readonly string[]>>
}

/** One geo: its node process, identity and HTTP helpers. */
export interface Geo {
  readonly name: string
  readonly dataDir: string
  readonly peerId: string
  /** The port its fabric listens on (the same across restarts). */
  readonly fabricPort: number
  /** The gateway URL of the running process (changes on restart). */
  readonly url: string
  /** The running process, if any. */
  readonly node: NodeProcess | undefined
  /** `POST /v1/actors/:type/:id/:command`; resolves with the reply, throws on a non-2xx status. */
  command<T = unknown>(type: string, id: string, command: string, input?: unknown): Promise<T>
  /** `GET /v1/actors/:type/:id`. */
  state<T = unknown>(type: string, id: string): Promise<T>
  /** `GET /v1/fabric`. */
  fabric(): Promise<FabricStatus>
  /** Sends a signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Sends a signal without waiting (SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void
  /** Starts the node again with the same data dir, identity, ports and peers. */
  restart(): Promise<void>
  /** Everything the current and previous processes printed. */
  output(): string
}

/** The two proxies (one per dialling direction) between two geos. */
export interface Link {
  readonly between: readonly [string, string]
  cut(): void
  restore(): void
  freeze(): void
  delay(ms: number): void
}

export interface MultiGeo {
  readonly geos: readonly Geo[]
  geo(name: string): Geo
  link(a: string, b: string): Link
  /**
   * A one-way cut: bytes from `from` to `to` are held on both proxies between them (whoever
   * dialled), while bytes from `to` to `from` still flow. `heal()` undoes it.
   */
  cutOneWay(from: string, to: string): void
  /** Cuts every link between different groups, e.g. `partition(['a'], ['b', 'c'])`. */
  partition(...groups: string[][]): void
  /** Restores every link. */
  heal(): void
  /** Cuts every link. */
  isolateAll(): void
  /** Resolves once every running geo reports every peer connected with no lag. */
  waitReplicated(timeoutMs?: number): Promise<void>
  /** Stops every process, proxy and data dir. Idempotent. */
  stop(): Promise<void>
}

const clusters = new Set<MultiGeo>()

/** Stops every cluster still running (call from `afterEach`/`after`). */
export async function stopAllMultiGeos(): Promise<void> {
  await Promise.allSettled([...clusters].map((c) => c.stop()))
}

/** Prints the end of every geo's output to stderr (from an afterEach hook, when a test failed). */
export function printGeoOutputs(cluster: MultiGeo | undefined, chars = 4_000): void {
  for (const geo of cluster?.geos ?? [])
    process.stderr.write(`--- output of geo ${geo.name} ---\n${geo.output().slice(-chars)}\n`)
}

/** Polls `check` every `everyMs` until it holds; throws with `what` (and the last error) at the deadline. */
export async function poll(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      )
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

export { freePort }

/** Starts one node per geo, every pair linked through two proxies, and waits until all are connected. */
export async function startMultiGeo(init: MultiGeoInit): Promise<MultiGeo> {
  const names = [...init.geos]
  if (new Set(names).size !== names.length || names.length < 2)
    throw new Error('startMultiGeo needs at least two distinct geo names')
  const proxies = new Map<string, TcpProxy>()
  const geos = new Map<string, GeoState>()
  const dataDirs: string[] = []
  let stopped = false

  const cluster: MultiGeo = {
    get geos() {
      return [...geos.values()].map((g) => g.handle)
    },
    geo(name) {
      const geo = geos.get(name)
      if (!geo) throw new Error(`no geo '${name}'`)
      return geo.handle
    },
    link(a, b) {
      const ab = proxies.get(`${a}->${b}`)
      const ba = proxies.get(`${b}->${a}`)
      if (!ab || !ba) throw new Error(`no link ${a}|${b}`)
      return {
        between: [a, b] as const,
        cut: () => (ab.cut(), ba.cut()),
        restore: () => (ab.restore(), ba.restore()),
        freeze: () => (ab.freeze(), ba.freeze()),
        delay: (ms) => (ab.delay(ms), ba.delay(ms)),
      }
    },
    cutOneWay(from, to) {
      const dialledByFrom = proxies.get(`${from}->${to}`)
      const dialledByTo = proxies.get(`${to}->${from}`)
      if (!dialledByFrom || !dialledByTo) throw new Error(`no link ${from}|${to}`)
      dialledByFrom.cutDirection('toTarget')
      dialledByTo.cutDirection('toClient')
    },
    partition(...groups) {
      const groupOf = new Map<string, number>()
      groups.forEach((group, i) => group.forEach((name) => groupOf.set(name, i)))
      for (const a of names)
        for (const b of names)
          if (a < b && groupOf.get(a) !== groupOf.get(b)) cluster.link(a, b).cut()
    },
    heal() {
      for (const proxy of proxies.values()) proxy.restore()
    },
    isolateAll() {
      for (const proxy of proxies.values()) proxy.cut()
    },
    async waitReplicated(timeoutMs = 30_000) {
      await poll(
        'every geo connected to every peer with no lag',
        async () => {
          const statuses = await Promise.all(
            [...geos.values()].filter((g) => g.node).map((g) => g.handle.fabric()),
          )
          return statuses.every(
            (s) =>
              s.peers.length === names.length - 1 &&
              s.peers.every((p) => p.connected && p.lagEvents === 0),
          )
        },
        timeoutMs,
      )
    },
    async stop() {
      if (stopped) return
      stopped = true
      clusters.delete(cluster)
      await Promise.allSettled([...geos.values()].map((g) => g.handle.kill('SIGKILL')))
      await Promise.allSettled([...proxies.values()].map((p) => p.close()))
      await Promise.allSettled(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })))
    },
  }
  clusters.add(cluster)

  try {
    // Identities and ports first: every node must know every peer's PeerId and proxy port.
    const created = await Promise.all(
      names.map(async (name) => {
        const dataDir = await mkdtemp(join(tmpdir(), `anywhere-geo-${name}-`))
        dataDirs.push(dataDir)
        const id = await runNodeCommand(['id', '--data-dir', dataDir])
        const peerId = id.stdout.trim()
        if (id.code !== 0 || !/^12D3KooW\w+$/.test(peerId))
          throw new Error(`anywhere-node id failed for ${name}: ${id.stderr || id.stdout}`)
        return newGeoState(name, dataDir, peerId, await freePort(), init, geosArgs)
      }),
    )
    // In the order given, so `geos` lists them as the caller named them.
    for (const geo of created) geos.set(geo.name, geo)
    for (const from of names)
      for (const to of names)
        if (from !== to)
          proxies.set(
            `${from}->${to}`,
            await startTcpProxy({ targetPort: geos.get(to)!.fabricPort }),
          )
    await Promise.all([...geos.values()].map((g) => g.handle.restart()))
    await cluster.waitReplicated(30_000)
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }

  /** The CLI arguments of one geo's node. */
  function geosArgs(geo: GeoState): string[] {
    const args = [
      '--geo',
      geo.name,
      '--data-dir',
      geo.dataDir,
      '--store',
      init.store ?? 'memory',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      init.logLevel ?? 'warn',
      '--fabric-listen',
      `/ip4/127.0.0.1/tcp/${geo.fabricPort}`,
    ]
    if (init.app) args.push('--app', init.app)
    const configFile = init.configFiles?.[geo.name] ?? init.configFile
    if (configFile) args.push('--config', configFile)
    for (const other of geos.values())
      if (other !== geo)
        args.push(
          '--peer',
          `/ip4/127.0.0.1/tcp/${proxies.get(`${geo.name}->${other.name}`)!.port}/p2p/${other.peerId}`,
        )
    return args
  }
}

interface GeoState {
  name: string
  dataDir: string
  peerId: string
  fabricPort: number
  node: NodeProcess | undefined
  handle: Geo
}

function newGeoState(
  name: string,
  dataDir: string,
  peerId: string,
  fabricPort: number,
  init: MultiGeoInit,
  argsOf: (geo: GeoState) => string[],
): GeoState {
  let previousOutput = ''
  const state: GeoState = {
    name,
    dataDir,
    peerId,
    fabricPort,
    node: undefined,
    handle: undefined as unknown as Geo,
  }
  const url = () => {
    if (!state.node) throw new Error(`geo ${name} is not running`)
    return state.node.url
  }
  const request = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${url()}${path}`, {
      method,
      ...(body !== undefined
        ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
        : {}),
      signal: AbortSignal.timeout(15_000),
    })
    const text = await response.text()
    if (!response.ok)
      throw new Error(`${method} ${path} in geo ${name}: ${response.status} ${text}`)
    return JSON.parse(text) as T
  }
  state.handle = {
    name,
    dataDir,
    peerId,
    fabricPort,
    get url() {
      return url()
    },
    get node() {
      return state.node
    },
    command: (type, id, command, input = {}) =>
      request('POST', `/v1/actors/${type}/${encodeURIComponent(id)}/${command}`, input),
    state: (type, id) => request('GET', `/v1/actors/${type}/${encodeURIComponent(id)}`),
    fabric: () => request('GET', '/v1/fabric'),
    async kill(signal = 'SIGKILL') {
      const node = state.node
      if (!node) return
      await node.kill(signal)
      previousOutput += node.output()
      state.node = undefined
    },
    signal(signal) {
      if (state.node) process.kill(state.node.pid, signal)
    },
    async restart() {
      if (state.node) await state.handle.kill('SIGKILL')
      state.node = await startNodeProcess({
        args: argsOf(state),
        ...(init.nodeArgs?.[name] ? { nodeArgs: init.nodeArgs[name] } : {}),
        timeoutMs: init.startTimeoutMs ?? 60_000,
      })
    },
    output: () => previousOutput + (state.node?.output() ?? ''),
  }
  return state
}
