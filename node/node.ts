// The composition root: the one place that wires backends (stores, fabric, gateway) into the core.
import { join, resolve } from 'node:path'
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
  type Fabric,
  type Logger,
  type Startable,
} from '../core/index.js'
import {
  gateway as httpGateway,
  openGatewayWarning,
  type Gateway,
} from '../transports/http/index.js'
import { parseNodeConfig, type NodeConfig, type NodeConfigInput } from './config.js'
import { nodeIdDir, storeFactory } from './store-factory.js'
import { ephemeralNodeId, persistentNodeId } from './node-id.js'
import { servedActors, servingHint } from './served-actors.js'
import { dataDirError, startError } from './start-errors.js'
import { MeteredStore, StoreStats } from './metered-store.js'
import { nodeMetrics } from './metrics.js'
import { pinoLogger } from './pino-logger.js'
import type { Registry } from 'prom-client'
import { AppendMeter, NodeReadiness, OverloadDetector } from './load/index.js'
import { makeDirectory } from '../support/make-directory.js'

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
    if (config.store.kind !== 'memory') await makeDirectory(dataDir)
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
  const backend = (await storeFactory(config.store, dataDir, config.members.enabled))({
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
    logger,
  })
  // A fabric is built afresh each time it starts: in a geo of several nodes, each time this
  // node takes the replicator lease.
  const notices = geoFabricModule?.geoNoticeKeeper(config, nodeId)
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
          // A geo's members write under the geo's key: their origins are live.
          ...(members ? { liveOrigins: () => members.members().map((m) => m.nodeId) } : {}),
          ...(notices ? { notices } : {}),
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
    logger,
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
