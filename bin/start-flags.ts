// The flags of `anywhere-node start`, and the partial config they overlay on the config file's.
import { ConfigError, type LOG_LEVELS } from '../core/index.js'
import type { LOG_FORMATS } from '../node/index.js'

/** What `start` is given on the command line. */
export interface StartFlags {
  config?: string
  host?: string
  port?: number
  dataDir?: string
  geo?: string
  app?: string
  store?: 'memory' | 'file' | 'redis'
  redisUrl?: string
  /** `host:port,host:port` or redis:// URLs, comma-separated. */
  redisCluster?: string
  redisPrefix?: string
  members?: boolean
  membersPort?: number
  fabricListen?: string[]
  peer?: string[]
  logLevel?: (typeof LOG_LEVELS)[number]
  logJson?: boolean
  logFormat?: (typeof LOG_FORMATS)[number]
  builtInActors?: boolean
  sampleActors?: boolean
  debug?: boolean
}

/** Turns flags into a partial config that overlays the file's. */
export function flagsToConfig(flags: StartFlags, fileConfig: unknown): Record<string, unknown> {
  const overlay: Record<string, unknown> = {
    app: flags.app,
    geo: flags.geo,
    dataDir: flags.dataDir,
    http: { host: flags.host, port: flags.port },
    log: { level: flags.logLevel, json: flags.logJson, format: flags.logFormat },
    builtInActors: flags.builtInActors,
    sampleActors: flags.sampleActors,
    members:
      flags.members || flags.membersPort !== undefined
        ? { enabled: flags.members, port: flags.membersPort }
        : undefined,
  }
  const storeKind = flags.store ?? (flags.redisUrl || flags.redisCluster ? 'redis' : undefined)
  if (storeKind === 'redis') {
    const fileStore = (fileConfig as { store?: Record<string, unknown> }).store
    // The overlay merges into the file's store: a flag that names the other kind of target
    // than the file (--redis-cluster over a file's url) leaves both, which the config refuses.
    const store = {
      ...(fileStore?.kind === 'redis' ? fileStore : {}),
      kind: 'redis',
      url: flags.redisUrl ?? fileStore?.url,
      cluster:
        flags.redisCluster === undefined
          ? fileStore?.cluster
          : parseClusterFlag(flags.redisCluster),
      prefix: flags.redisPrefix ?? fileStore?.prefix,
    }
    overlay.store = Object.fromEntries(
      Object.entries(store).filter(([, value]) => value !== undefined),
    )
  } else if (storeKind) {
    overlay.store = { kind: storeKind }
  }
  if (flags.fabricListen || flags.peer) {
    const fileFabric = (fileConfig as { fabric?: Record<string, unknown> }).fabric ?? {}
    if (!flags.fabricListen && fileFabric.listen === undefined)
      throw new ConfigError(
        `--peer needs --fabric-listen: the fabric must listen to replicate with peers; add e.g. --fabric-listen /ip4/127.0.0.1/tcp/7401 (or fabric.listen in the config)`,
      )
    overlay.fabric = {
      ...fileFabric,
      ...(flags.fabricListen ? { listen: flags.fabricListen } : {}),
      ...(flags.peer ? { peers: parsePeers(flags.peer) } : {}),
    }
  }
  return overlay
}

/** `a:6379,redis://b:6379` → `['redis://a:6379', 'redis://b:6379']` (the config checks each). */
export function parseClusterFlag(value: string): string[] {
  return value
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node !== '')
    .map((node) => (/^rediss?:\/\//.test(node) ? node : `redis://${node}`))
}

/** `/ip4/127.0.0.1/tcp/7401/p2p/12D3...` → `{ peerId, addrs: ['/ip4/127.0.0.1/tcp/7401'] }`, merged per PeerId. */
export function parsePeers(values: readonly string[]): Array<{ peerId: string; addrs: string[] }> {
  const peers = new Map<string, string[]>()
  for (const value of values) {
    const match = /^(\/.+)\/p2p\/([A-Za-z0-9]+)$/.exec(value)
    if (!match)
      throw new ConfigError(
        `--peer ${value}: must be a multiaddr ending in /p2p/<PeerId>; get a node's PeerId with 'anywhere-node id'`,
      )
    const [, addr, peerId] = match as unknown as [string, string, string]
    peers.set(peerId, [...(peers.get(peerId) ?? []), addr])
  }
  return [...peers].map(([peerId, addrs]) => ({ peerId, addrs }))
}
