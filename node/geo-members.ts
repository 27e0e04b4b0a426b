// A geo of several nodes, wired: membership through the geo's Redis, placement of each actor
// on one live member by rendezvous hashing, the fencing epoch claimed from the Redis store,
// and the channel that carries messages to the owner. Loaded only when `members.enabled`.
import {
  NotOwnerError,
  memberSeed,
  rendezvousOwner,
  type ActorFencing,
  type ActorPlacement,
  type ActorRuntime,
  type AbortOptions,
  type Clock,
  type Logger,
  type Startable,
  type Taps,
} from '../core/index.js'
import { RedisMembership, type GeoMember } from '../stores/redis/index.js'
import { REDIS_STORE_DEFAULTS, type RedisStoreSettings } from '../stores/redis/options.js'
import { GeoChannelClient } from '../transports/geo-channel/client.js'
import { GeoChannelServer } from '../transports/geo-channel/server.js'
import type { NodeConfig } from './config.js'

/** What `GET /v1/geo` answers. */
export interface GeoView {
  geo: string
  nodeId: string
  /** True when this node shares its geo with others through Redis (`members.enabled`). */
  members: readonly GeoMember[]
  /** When asked for an actor (`?actor=type/id`): the node that owns it in this node's view. */
  owner?: string
}

/** The parts of a node that make it one member of a geo of several. */
export interface GeoMembers extends Startable {
  readonly placement: ActorPlacement
  /** The members in this node's view. */
  members(): readonly GeoMember[]
  /** Connects the runtime (built after the placement it is given). */
  attach(runtime: ActorRuntime): void
}

export interface GeoMembersComponents {
  config: NodeConfig
  nodeId: string
  fencing: ActorFencing
  clock: Clock
  logger: Logger
  taps: Taps
}

/** Builds the membership, placement and channel of a node whose config enables `members`. */
export function geoMembers(components: GeoMembersComponents): GeoMembers {
  const { config, nodeId, fencing, clock, taps } = components
  const logger = components.logger.child({ component: 'geo' })
  const store = config.store
  if (store.kind !== 'redis') throw new TypeError('members need the redis store')
  const settings = { ...REDIS_STORE_DEFAULTS, ...store } as RedisStoreSettings
  let runtime: ActorRuntime | undefined
  let seeds: { id: string; seed: number }[] = []
  let urls = new Map<string, string>()
  const self: GeoMember = { nodeId, url: '', startedAt: clock.now() }
  const membership = new RedisMembership(settings, config.members, self, { clock, logger, taps })
  const client = new GeoChannelClient({
    urlOf: (node) => urls.get(node),
    secret: () => membership.secret,
    askTimeoutMs: config.runtime.askTimeoutMs,
  })
  const server = new GeoChannelServer(config.members, {
    get runtime(): ActorRuntime {
      if (!runtime) throw new TypeError('the geo channel serves before its runtime is attached')
      return runtime
    },
    logger,
    secret: () => membership.secret,
  })
  const placement: ActorPlacement = {
    selfId: nodeId,
    ownerOf: (type, id) => rendezvousOwner(seeds, type, id) ?? nodeId,
    async claim(type: string, id: string, options?: AbortOptions): Promise<number> {
      if (!membership.current)
        throw new NotOwnerError(
          `node ${nodeId} is not sure it is still a member of the geo (no renewal answered within ${config.members.timeoutMs} ms): it takes no actor until it is`,
        )
      const owner = placement.ownerOf(type, id)
      if (owner !== nodeId)
        throw new NotOwnerError(`node ${nodeId} does not own ${type}/${id} (node ${owner} does)`)
      if (!membership.seenByAll)
        throw new NotOwnerError(
          `node ${nodeId} joined the geo moments ago: it takes ${type}/${id} once every member has seen it`,
        )
      return fencing.claimActor(type, id, options)
    },
    holdsClaims: () => membership.current,
    whenChanged: (maxWaitMs) => membership.whenChanged(maxWaitMs),
    remote: client,
  }
  const take = (members: readonly GeoMember[]) => {
    seeds = members.map((m) => ({ id: m.nodeId, seed: memberSeed(m.nodeId) }))
    urls = new Map(members.map((m) => [m.nodeId, m.url]))
    client.prune(new Set(urls.keys()))
  }
  membership.onChange((change) => {
    take(membership.members)
    runtime?.placementChanged(change.lapsed)
  })
  return {
    placement,
    members: () => membership.members,
    attach(attached) {
      runtime = attached
    },
    async start() {
      await server.start()
      self.url = config.members.url ?? server.url
      await membership.start()
      take(membership.members)
      logger.info('joined the geo', {
        channel: self.url,
        members: membership.members.map((m) => m.nodeId).join(','),
      })
    },
    async stop() {
      // Leave first: the others take this node's actors while its queued messages drain.
      await membership.stop()
      await server.stop()
      await client.stop()
    },
  }
}
