// The composition root: the one place that wires backends (stores, fabric, gateway) into the core.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { builtInActors } from '../actors/index.js'
import {
  ActorRuntime,
  ConfigError,
  HybridLogicalClock,
  RuntimeStats,
  signedOrigin,
  NotRunningError,
  systemClock,
  Taps,
  type ActorFencing,
  type AnyActorDefinition,
  type Clock,
  type EventStore,
  type EventStoreFactory,
  type Fabric,
  type Logger,
  type Startable,
} from '../core/index.js'
import { sampleActors } from '../samples/index.js'
import {
  gateway as httpGateway,
  openGatewayWarning,
  type Gateway,
} from '../transports/http/index.js'
import {
  parseNodeConfig,
  type NodeConfig,
  type NodeConfigInput,
  type StoreConfig,
} from './config.js'
import { memoryStore } from '../stores/memory/index.js'
import { writeFileDurably } from '../support/durable-file.js'
import { MeteredStore, StoreStats } from './metered-store.js'
import { nodeMetrics } from './metrics.js'
import { pinoLogger } from './pino-logger.js'
import type { Registry } from 'prom-client'
import { AppendMeter, NodeReadiness, OverloadDetector } from './load/index.js'

/** Everything a node is made of, started and stopped as one. */
export interface AnywhereNode extends Startable {
  readonly config: NodeConfig
  readonly nodeId: string
  readonly runtime: ActorRuntime
  readonly store: EventStore
  readonly taps: Taps
  /** Absent when `http.enabled` is false (mount `anywhereRoutes` into an app of your own). */
  readonly gateway?: Gateway
  readonly fabric?: Fabric
  readonly logger: Logger
  /** The node's Prometheus registry (absent when `metrics.enabled` is false); the gateway serves it at `/metrics`. */
  readonly metrics?: Registry
  /** Whether the node can take writes now (what `GET /readyz` answers). */
  readonly readiness: NodeReadiness
  /** The load signals and whether they say overloaded. */
  readonly overload: OverloadDetector
}

export interface CreateNodeOptions {
  /** Actor types served besides the built-in and sample ones. */
  actors?: readonly AnyActorDefinition[]
  logger?: Logger
  clock?: Clock
}

/** Where the node id lives: with the file store, in the store's own directory (see persistentNodeId). */
function nodeIdDir(store: StoreConfig, dataDir: string): string {
  return store.kind === 'file' ? fileStoreDir(store, dataDir) : dataDir
}

function fileStoreDir(store: Extract<StoreConfig, { kind: 'file' }>, dataDir: string): string {
  return resolve(store.dir ?? join(dataDir, 'events'))
}

/**
 * The store a config names. Its backend is loaded only now, when it is configured: a node
 * on the file store never loads ioredis.
 */
export async function storeFactory(
  store: StoreConfig,
  dataDir: string,
): Promise<EventStoreFactory> {
  switch (store.kind) {
    case 'memory':
      return memoryStore()
    case 'file': {
      const { fileStore } = await import('../stores/file/index.js')
      const { kind: _kind, dir: _dir, ...tuning } = store
      return fileStore({ dir: fileStoreDir(store, dataDir), ...tuning })
    }
    case 'redis': {
      const { redisStore } = await import('../stores/redis/index.js')
      const { kind: _kind, ...init } = store
      return redisStore(init)
    }
  }
}

/**
 * Builds a node from a config (parsed here if it is not already). Nothing runs until
 * `start()`: the store opens, the runtime starts, the fabric connects, the gateway listens.
 */
export async function createNode(
  input: NodeConfigInput | NodeConfig,
  options: CreateNodeOptions = {},
): Promise<AnywhereNode> {
  const config = parseNodeConfig(input)
  const dataDir = resolve(config.dataDir)
  const actors = servedActors(config, options.actors)
  let logId: string
  try {
    // A memory-store node keeps nothing: it creates no directory (a fabric's key file is
    // created where it is needed, by the fabric).
    if (config.store.kind !== 'memory') await mkdir(dataDir, { recursive: true })
    logId =
      config.store.kind === 'memory'
        ? ephemeralNodeId(config.geo)
        : await persistentNodeId(join(nodeIdDir(config.store, dataDir), 'node-id'), config.geo)
  } catch (error) {
    throw dataDirError(error, dataDir) ?? error
  }
  // A node with a fabric writes under an origin that names its key, so that every geo can
  // check that its events are its own (libp2p is loaded only for a node that runs a fabric).
  // In a geo of several nodes the key is the geo's, and one node at a time replicates.
  const libp2p = config.fabric ? await import('../transports/libp2p/index.js') : undefined
  const geoFabricModule =
    config.fabric && config.members.enabled ? await import('./geo-fabric.js') : undefined
  const identity =
    config.fabric && libp2p
      ? geoFabricModule
        ? await geoFabricModule.fabricIdentity(config, dataDir, logId, libp2p)
        : await libp2p.loadOrCreateIdentity(config.fabric.keyFile ?? join(dataDir, 'peer-key'))
      : undefined
  // The node's id is the origin it writes under.
  const nodeId = identity ? signedOrigin(logId, identity.peerId) : logId
  const clock = options.clock ?? systemClock()
  // Every line names the geo and the node it comes from.
  const logger = (
    options.logger ??
    pinoLogger({
      level: config.log.level,
      format:
        config.log.json === undefined ? config.log.format : config.log.json ? 'json' : 'pretty',
    })
  ).child({ geo: config.geo, nodeId })
  const taps = new Taps()
  const hlc = new HybridLogicalClock(clock, { maxSkewMs: config.runtime.maxClockSkewMs })
  const backend = (await storeFactory(config.store, dataDir))({
    clock,
    logger: logger.child({ component: 'store' }),
    taps,
    nodeId,
  })
  // A geo of several nodes: membership, placement and the channel between them (else nothing).
  const members = config.members.enabled
    ? (await import('./geo-members.js')).geoMembers({
        config,
        nodeId,
        fencing: fencingOf(backend),
        clock,
        logger,
        taps,
      })
    : undefined
  const runtimeStats = config.metrics.enabled ? new RuntimeStats() : undefined
  const storeStats = config.metrics.enabled ? new StoreStats() : undefined
  const store = storeStats ? new MeteredStore(backend, storeStats) : backend
  // The runtime appends through the meter: store append latency is a load signal.
  const appendMeter = new AppendMeter(store, clock)
  const runtime = new ActorRuntime(
    { actors, ...config.runtime, unknownActorHint: (type) => servingHint(config, type) },
    {
      store: appendMeter.store,
      clock,
      hlc,
      taps,
      logger: logger.child({ component: 'runtime' }),
      origin: nodeId,
      ...(runtimeStats ? { stats: runtimeStats } : {}),
      ...(members ? { placement: members.placement } : {}),
      followsStore: geoFabricModule !== undefined,
    },
  )
  members?.attach(runtime)
  // Read only once the node runs, when `overload` (below, it reads the gateway) exists.
  const readiness: NodeReadiness = new NodeReadiness(config.overload, {
    clock,
    store,
    load: () => overload.report(),
  })
  // A fabric is built afresh each time it starts: in a geo of several nodes, each time this
  // node takes the replicator lease.
  const createFabric = (): Fabric | undefined =>
    config.fabric && libp2p
      ? libp2p.libp2pFabric(config.fabric, { identity })({
          appName: config.app,
          geo: config.geo,
          nodeId,
          dataDir,
          log: store,
          ingest: runtime,
          feed: runtime.feed,
          taps,
          logger, // the fabric names itself (component: fabric)
          clock,
          serveForwarded: (request) => {
            if (!gateway)
              throw new NotRunningError('this node runs no gateway to serve forwarded requests')
            return gateway.serveForwarded(request)
          },
          advert: () => {
            const { ready, reason, load } = readiness.state()
            const urls = config.http.publicUrls ?? (gateway?.listening ? [gateway.url] : [])
            return { urls, ready, ...(reason ? { reason } : {}), load: load.load }
          },
        })
      : undefined
  const geo =
    geoFabricModule && identity
      ? geoFabricModule.geoFabric({
          config,
          nodeId,
          peerId: identity.peerId,
          backend,
          runtime,
          create: () => createFabric()!,
          clock,
          logger,
          taps,
        })
      : undefined
  const fabric = geo ? geo.fabric : createFabric()
  const metrics =
    runtimeStats && storeStats
      ? nodeMetrics({
          app: config.app,
          geo: config.geo,
          nodeId,
          runtime,
          runtimeStats,
          storeStats,
          taps,
          fabric,
        })
      : undefined
  const gateway: Gateway | undefined = config.http.enabled
    ? httpGateway(config.http)({
        runtime,
        taps,
        logger: logger.child({ component: 'gateway' }),
        geo: config.geo,
        nodeId,
        fabric,
        metrics: metrics?.registry,
        readiness,
        geoView: (actor) => ({
          geo: config.geo,
          nodeId,
          members: members?.members() ?? [],
          ...(actor ? { owner: members?.placement.ownerOf(actor.type, actor.id) ?? nodeId } : {}),
        }),
      })
    : undefined
  const overload: OverloadDetector = new OverloadDetector(config.overload, {
    clock,
    taps,
    geo: config.geo,
    sources: {
      inFlight: () => gateway?.inFlight ?? 0,
      mailboxBacklog: () => runtime.mailboxBacklog(),
      storeAppendMs: () => appendMeter.takeMs(),
    },
  })

  let state: 'new' | 'started' | 'stopped' = 'new'
  const node: AnywhereNode = {
    config,
    nodeId,
    runtime,
    store,
    taps,
    gateway,
    fabric,
    logger,
    metrics: metrics?.registry,
    readiness,
    overload,
    async start() {
      if (state !== 'new') return
      state = 'started'
      try {
        await store.start()
        await observeOwnClock(store, hlc, nodeId, logger)
        // Before anything can load an actor: every event stored from here on reaches the replicas.
        await geo?.follower.start()
        await runtime.start()
        await members?.start()
        await overload.start()
        await readiness.start()
        await fabric?.start()
        if (gateway) {
          await gateway.start()
          const open = openGatewayWarning(config.http, gateway.url)
          if (open) logger.warn(open)
        }
      } catch (error) {
        await node.stop()
        throw startError(error, config, dataDir) ?? error
      }
      readiness.enter('serving')
      taps.publish({ kind: 'node.started', at: clock.now(), nodeId, geo: config.geo })
      logger.info('node started', {
        store: config.store.kind,
        http: gateway?.url,
        actorTypes: actors.map((a) => a.type).join(','),
      })
      if (actors.length === 0)
        logger.warn(
          'this node serves no actor type: list yours in the config module (actors: [...]), or set builtInActors: true to serve the built-in ones',
        )
    },
    async stop() {
      if (state === 'stopped') return
      state = 'stopped'
      readiness.enter('draining')
      taps.publish({ kind: 'node.stopping', at: clock.now(), nodeId, geo: config.geo })
      // Front to back: stop taking requests, let in-flight ones finish, then release the store.
      await settle(logger, 'gateway', gateway?.stop())
      await settle(logger, 'geo membership', members?.stop())
      await settle(logger, 'fabric', fabric?.stop())
      await settle(logger, 'store follower', geo?.follower.stop())
      await settle(logger, 'readiness', readiness.stop())
      await settle(logger, 'overload detector', overload.stop())
      await settle(logger, 'runtime', runtime.stop())
      await settle(logger, 'store', store.stop())
      metrics?.stop()
      taps.complete()
      logger.info('node stopped')
    },
  }
  return node
}

/**
 * After a restart the wall clock may lag the stamps this node already issued: move the HLC
 * past them. An own stamp beyond the skew bound (a clock poisoned by an older version, which
 * merged a far-future remote stamp) is not merged: the node stamps from its real clock again,
 * so its next events sort before that one in the merge order. Convergence does not depend on
 * it (every geo folds the same set in the same `(hlc, origin, seq)` order) and per-origin
 * `seq` order is unchanged; only "a local write sorts after everything this node wrote" is
 * given up for events written while the clock was poisoned.
 */
async function observeOwnClock(
  store: EventStore,
  hlc: HybridLogicalClock,
  nodeId: string,
  logger: Logger,
): Promise<void> {
  const held = (await store.versionVector())[nodeId] ?? 0
  if (held === 0) return
  const [last] = await store.readOrigin(nodeId, held, 1)
  if (!last) return
  if (!hlc.withinSkew(last.hlc))
    logger.error(
      'this node wrote events stamped beyond the clock skew bound (a clock pushed ahead by an older version): ' +
        'new events still sort after them, so peers hold them back until their clocks reach that time; ' +
        'start the node on a new event log to write under a fresh origin now',
      { seq: last.seq, hlc: last.hlc, maxClockSkewMs: hlc.maxSkewMs },
    )
  // Own events keep seq order in the merge order: never stamp before one already written.
  hlc.observeOwn(last.hlc)
}

/** The store as what claims actors: a geo of several nodes needs one that fences appends (Redis). */
function fencingOf(store: EventStore): ActorFencing {
  if (!('claimActor' in store) || typeof store.claimActor !== 'function')
    throw new ConfigError(
      'members.enabled needs the Redis store (it fences the appends of each actor)',
    )
  return store as EventStore & ActorFencing
}

/** The node-id file is not secret: readable by every user (for tools), writable by the owner. */
const NODE_ID_FILE_MODE = 0o644

/**
 * The node id (its origin) kept next to its events: with the file store, inside the store's
 * own directory, so a log that is emptied or replaced (as the corruption error advises)
 * takes its id with it and the node writes under a fresh origin; a reused origin would
 * restart at seq 1, and peers that hold those seqs would drop the new events as known.
 * Written durably (temp file, fsync, link), so a crash on first start leaves a whole id or none.
 */
async function persistentNodeId(file: string, geo: string): Promise<string> {
  const existing = await readNodeId(file)
  if (existing) return existing
  await mkdir(dirname(file), { recursive: true })
  const id = `${geo}-${randomBytes(4).toString('hex')}`
  try {
    // Linked, not renamed, into place: fails if another start won the race (or a torn empty file is there).
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE, overwrite: false })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = await readNodeId(file)
    if (winner) return winner
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE }) // an empty file left by a crash: replace it
  }
  return (await readNodeId(file)) ?? id
}

async function readNodeId(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** A memory store forgets its events: a fresh origin per start keeps seqs from ever being reused. */
function ephemeralNodeId(geo: string): string {
  return `${geo}-mem-${randomBytes(4).toString('hex')}`
}

async function settle(
  logger: Logger,
  what: string,
  stopping: Promise<void> | undefined,
): Promise<void> {
  try {
    await stopping
  } catch (error) {
    logger.warn(`stopping the ${what} failed`, { error })
  }
}

/** Errno codes that mean "this process cannot write there". */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'])

/** The errno code of an error or of one of its causes. */
function errnoCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
  }
  return undefined
}

/** A data dir the node cannot write to, as a ConfigError naming it and the fix; else undefined. */
function dataDirError(error: unknown, dataDir: string): ConfigError | undefined {
  const code = errnoCode(error)
  if (!code || !NOT_WRITABLE.has(code)) return undefined
  const why = error instanceof Error ? error.message : String(error)
  return new ConfigError(
    `data dir ${dataDir} is not writable (${code}: ${why}); choose another with --data-dir (or dataDir in the config)`,
    { cause: error },
  )
}

/** A failed start caused by the user's settings (a port in use, an unwritable dir), as a ConfigError. */
function startError(error: unknown, config: NodeConfig, dataDir: string): ConfigError | undefined {
  const message = error instanceof Error ? error.message : String(error)
  if (errnoCode(error) === 'EADDRINUSE')
    return new ConfigError(
      `the gateway cannot listen: ${config.http.host}:${config.http.port} is already in use; stop what holds it or pick another port with --port (0 picks a free one)`,
      { cause: error },
    )
  // libp2p reports every listen address that failed in one message, one per line.
  const fabricInUse = [...message.matchAll(/^\s*(\/\S+): .*EADDRINUSE/gm)].map((m) => m[1])
  if (fabricInUse.length > 0)
    return new ConfigError(
      `the fabric cannot listen: ${fabricInUse.join(', ')} is already in use; pick another address with --fabric-listen (tcp/0 picks a free port)`,
      { cause: error },
    )
  return dataDirError(error, dataDir)
}

/**
 * The actor types a node of this config serves: built-in, sample and `extra` ones. Two of one
 * name are refused with a ConfigError naming the fix (also used by `anywhere-node check`).
 */
export function servedActors(
  config: Pick<NodeConfig, 'builtInActors' | 'sampleActors'>,
  extra: readonly AnyActorDefinition[] = [],
): AnyActorDefinition[] {
  const builtIn = [
    ...(config.builtInActors ? builtInActors : []),
    ...(config.sampleActors ? sampleActors : []),
  ]
  const actors = [...builtIn, ...extra]
  refuseDuplicateActorTypes(actors, builtIn)
  return actors
}

/** For a type this node does not serve: the setting that would serve it, if it is built in. */
function servingHint(
  config: Pick<NodeConfig, 'builtInActors' | 'sampleActors'>,
  type: string,
): string | undefined {
  if (!config.builtInActors && builtInActors.some((d) => d.type === type))
    return `'${type}' is a built-in actor type, served when the config sets builtInActors: true (or with anywhere-node --built-in-actors)`
  if (!config.sampleActors && sampleActors.some((d) => d.type === type))
    return `'${type}' is a sample actor type, served when the config sets sampleActors: true (or with anywhere-node --sample-actors)`
  return undefined
}

/** Two actor types of one name: refused before anything starts, naming the fix. */
function refuseDuplicateActorTypes(
  actors: readonly AnyActorDefinition[],
  builtIn: readonly AnyActorDefinition[],
): void {
  const seen = new Set<string>()
  for (const { type } of actors) {
    if (!seen.has(type)) {
      seen.add(type)
      continue
    }
    const flag = builtInActors.some((d) => d.type === type)
      ? 'builtInActors'
      : sampleActors.some((d) => d.type === type)
        ? 'sampleActors'
        : undefined
    const fix =
      flag && builtIn.some((d) => d.type === type)
        ? `it is a built-in actor type: rename yours, or set ${flag}: false (the default with a config file) to serve yours instead`
        : 'rename one of them'
    throw new ConfigError(`actor type '${type}' is registered twice; ${fix}`)
  }
}
