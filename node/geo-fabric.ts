// The fabric of a geo of several nodes, wired (loaded only when `members` and `fabric` are
// both set): the geo's shared key, the `replicator` lease that picks the one node that runs
// the fabric, and the follower through which every node learns what the others store.
// docs/fabric.md ("A geo of several nodes") says why it is built this way.
import { join } from 'node:path'
import type {
  ActorRuntime,
  Clock,
  EventFollowing,
  EventLog,
  EventStore,
  Fabric,
  Logger,
  NoticeKeeper,
  RoleLease,
  Taps,
} from '../core/index.js'
import { redisNoticeKeeper, takeGeoFabricKey } from '../stores/redis/index.js'
import type * as Libp2pTransport from '../transports/libp2p/index.js'
import type { NodeIdentity } from '../transports/libp2p/index.js'
import type { NodeConfig } from './config.js'
import { LeasedFabric } from './leased-fabric.js'
import { StoreFollower } from './store-follower.js'

type Libp2pModule = typeof Libp2pTransport

/**
 * The key a node's fabric runs under: its own (from `fabric.keyFile`, else `<dataDir>/peer-key`),
 * or in a geo of several nodes the geo's, which the first node put in the geo's Redis.
 */
export async function fabricIdentity(
  config: NodeConfig,
  dataDir: string,
  logId: string,
  libp2p: Libp2pModule,
): Promise<NodeIdentity> {
  const own = await libp2p.loadOrCreateIdentity(config.fabric?.keyFile ?? join(dataDir, 'peer-key'))
  if (!config.members.enabled || config.store.kind !== 'redis') return own
  const { kind: _kind, ...init } = config.store
  return libp2p.sharedIdentity(own, (candidate) => takeGeoFabricKey(init, candidate, logId))
}

/**
 * Where the geo's fabric keeps its retirement notices: the geo's Redis, so the node that
 * replicates next holds what the last one held.
 */
export function geoNoticeKeeper(config: NodeConfig, nodeId: string): NoticeKeeper | undefined {
  if (config.store.kind !== 'redis') return undefined
  const { kind: _kind, ...init } = config.store
  return redisNoticeKeeper(init, nodeId)
}

export interface GeoFabricComponents {
  config: NodeConfig
  nodeId: string
  /** The geo's fabric PeerId. */
  peerId: string
  /** The store as the node built it (the Redis store: it follows and leases). */
  backend: EventStore
  runtime: ActorRuntime
  /** A new libp2p fabric under the geo's key (one for each time this node takes the lease). */
  create: () => Fabric
  clock: Clock
  logger: Logger
  taps: Taps
}

/** The fabric (run by whichever node holds the lease) and the follower of one node of the geo. */
export function geoFabric(components: GeoFabricComponents): {
  fabric: LeasedFabric
  follower: StoreFollower
} {
  const { config, nodeId, backend, runtime, clock, logger, taps } = components
  const store = backend as EventStore & Partial<EventFollowing & RoleLease>
  if (typeof store.followEvents !== 'function' || typeof store.holdLease !== 'function')
    throw new TypeError('a geo of several nodes with a fabric needs the Redis store')
  const shared = store as EventLog & EventFollowing & RoleLease
  const fabric = new LeasedFabric(
    {
      nodeId,
      peerId: components.peerId,
      lease: shared,
      create: components.create,
      clock,
      logger,
      taps,
    },
    replicatorLeaseTiming(config.members),
  )
  const follower = new StoreFollower(shared, nodeId, (events) => runtime.observeStored(events), {
    clock,
    logger: logger.child({ component: 'geo' }),
  })
  return { fabric, follower }
}

/**
 * The replicator lease's timing from the membership's: it expires a heartbeat before the
 * membership timeout (never under two heartbeats: one renewal may fail), and the nodes that
 * do not hold it try four times a heartbeat, so that replication moves within the membership
 * timeout of its node's death (plus the new fabric's start and dial).
 */
export function replicatorLeaseTiming(members: { timeoutMs: number; heartbeatMs: number }): {
  ttlMs: number
  renewMs: number
  tryMs: number
} {
  const { timeoutMs, heartbeatMs } = members
  return {
    ttlMs: Math.max(2 * heartbeatMs, timeoutMs - heartbeatMs),
    renewMs: heartbeatMs,
    tryMs: Math.max(1, Math.floor(heartbeatMs / 4)),
  }
}
