// Membership of a geo of several nodes through the geo's Redis: each node registers (node id,
// internal address, start time) and renews with a heartbeat; a node that stops renewing
// drops out once its registration expires. Expiry is judged by Redis's own clock (TIME), so
// the nodes' clocks need not agree.
import { randomBytes } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import {
  StoreLockedError,
  StoreUnavailableError,
  type Clock,
  type Logger,
  type Taps,
} from '../../core/index.js'
import {
  connectStoreClient,
  createRedisClient,
  describeTarget,
  errorMessage,
} from './connection.js'
import { RedisKeys } from './keys.js'
import type { RedisStoreSettings } from './options.js'

/** One node of the geo as its registration says. */
export interface GeoMember {
  nodeId: string
  /** Where the other nodes of the geo reach it (its internal channel). */
  url: string
  /** When it started (ms since the epoch, its own clock). */
  startedAt: number
}

/** How membership is timed. */
export interface MembershipSettings {
  /** A node that has not renewed for this long drops out. */
  timeoutMs: number
  /** How often a node renews (well under `timeoutMs`). */
  heartbeatMs: number
}

/**
 * Renews this node (KEYS: members, info; ARGV: node id, timeout ms, info JSON), drops the
 * expired, and returns `[added, redisNowMs, id, expiry, info, id, expiry, info, ...]`:
 * `added` is 1 when this node was not registered (its first renewal, or it had expired).
 */
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local out = {added, now}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  out[#out + 1] = members[i]
  out[#out + 1] = members[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], members[i]) or ''
end
return out
`

/** Removes this node (KEYS: members, info; ARGV: node id). */
const LEAVE_SCRIPT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`

/** The commands membership uses, on one Redis or a Redis Cluster (scripts routed by their first key). */
interface MembershipClient {
  anywhereHeartbeat(...keysThenArgs: (string | number)[]): Promise<unknown>
  anywhereLeave(...keysThenArgs: (string | number)[]): Promise<unknown>
  defineCommand(name: string, definition: { lua: string; numberOfKeys: number }): void
  set(key: string, value: string, nx: 'NX'): Promise<unknown>
  get(key: string): Promise<string | null>
  quit(): Promise<unknown>
  disconnect(): void
  connect(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** A change of the view: who joined, who left, and whether this node had lapsed (been dropped). */
export interface MembershipChange {
  joined: readonly GeoMember[]
  left: readonly { nodeId: string; reason: 'stopped' | 'expired' }[]
  /** This node's registration had expired (it was paused or cut off): others may have taken its actors. */
  lapsed: boolean
}

/** The view of the geo this node holds, renewed on every heartbeat. */
export class RedisMembership {
  private readonly keys: RedisKeys
  private client: MembershipClient | undefined
  private view: GeoMember[] = []
  private expiries = new Map<string, number>()
  private cancelTimer: (() => void) | undefined
  private running = false
  private registered = false
  /** When the last renewal that Redis answered was sent (local clock): the registration holds until then + timeout. */
  private renewedAt = Number.NEGATIVE_INFINITY
  private readonly listeners = new Set<(change: MembershipChange) => void>()
  private waiters: (() => void)[] = []
  private geoSecret = ''
  /**
   * The other members' expiries when this node (re)registered, while any of them has not
   * renewed since: such a member has not seen this node and still serves its old actors.
   */
  private unseenBy: Map<string, number> | undefined

  constructor(
    private readonly store: RedisStoreSettings,
    private readonly settings: MembershipSettings,
    private readonly self: GeoMember,
    private readonly components: { clock: Clock; logger: Logger; taps: Taps },
  ) {
    // The store's layout: on a cluster every key of the prefix (these too) is in its slot.
    this.keys = new RedisKeys(store.prefix, store.cluster ? 'hash-tagged' : 'plain')
  }

  /** The live members, this node included once registered, sorted by node id. */
  get members(): readonly GeoMember[] {
    return this.view
  }

  /** The secret the geo's nodes present to each other (one per geo, made by its first node). */
  get secret(): string {
    return this.geoSecret
  }

  /**
   * True while this node's registration surely holds: a renewal Redis answered was sent less
   * than `timeoutMs` ago. A node that is not current claims no actor.
   */
  get current(): boolean {
    return this.components.clock.now() - this.renewedAt < this.settings.timeoutMs
  }

  /**
   * True once every other member has renewed since this node (re)registered, or dropped out:
   * each has then seen this node in its view and stopped serving the actors that moved here.
   * Until then a node that joined takes no actor, so no other member can still answer a read
   * of one from its replica while this node writes to it.
   */
  get seenByAll(): boolean {
    const unseenBy = this.unseenBy
    if (!unseenBy) return true
    for (const [nodeId, expiry] of unseenBy) if (this.expiries.get(nodeId) === expiry) return false
    this.unseenBy = undefined
    return true
  }

  /** Calls `listener` on every change of the view. */
  onChange(listener: (change: MembershipChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Resolves on the next change of the view, or after `maxWaitMs`. */
  whenChanged(maxWaitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let cancel = (): void => {}
      const done = () => {
        cancel()
        resolve()
      }
      cancel = this.components.clock.setTimer(Math.max(0, maxWaitMs), () => {
        this.waiters = this.waiters.filter((w) => w !== done)
        resolve()
      })
      this.waiters.push(done)
    })
  }

  /** Connects, takes (or makes) the geo's secret and registers; the view holds this node once it resolves. */
  async start(): Promise<void> {
    if (this.running) return
    const client = createRedisClient(
      this.store,
      `anywhere-membership:${this.self.nodeId}`,
    ) as unknown as MembershipClient
    client.defineCommand('anywhereHeartbeat', { lua: HEARTBEAT_SCRIPT, numberOfKeys: 2 })
    client.defineCommand('anywhereLeave', { lua: LEAVE_SCRIPT, numberOfKeys: 2 })
    client.on('error', (error: Error) =>
      this.components.logger.debug('membership: redis connection error', { error }),
    )
    // The lease of a node that runs alone on the prefix (owner-lease.ts): no geo beside it.
    let soleOwner: string | undefined
    try {
      await connectStoreClient(client as unknown as Redis | Cluster, this.store)
      soleOwner = (await client.get(this.keys.owner().toString('utf8'))) ?? undefined
      if (soleOwner === undefined)
        await client.set(this.keys.geoSecret(), randomBytes(32).toString('base64url'), 'NX')
      this.geoSecret = (await client.get(this.keys.geoSecret())) ?? ''
    } catch (error) {
      client.disconnect()
      throw new StoreUnavailableError(
        `membership: cannot reach ${describeTarget(this.store)}: ${errorMessage(error)}`,
        { cause: error },
      )
    }
    if (soleOwner !== undefined) {
      client.disconnect()
      throw new StoreLockedError(
        `membership: redis prefix '${this.store.prefix}' on ${describeTarget(this.store)} is held by a node started without --members ` +
          `(its lease: ${soleOwner.slice(0, 200)}): stop it and start every node of the prefix with --members, or give this geo another prefix (--redis-prefix)`,
      )
    }
    this.client = client
    this.running = true
    await this.renew()
    this.schedule()
  }

  /** Leaves the geo (the others drop this node at once) and closes the connection. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.cancelTimer?.()
    const client = this.client
    this.client = undefined
    if (!client) return
    try {
      await client.anywhereLeave(this.keys.members(), this.keys.memberInfo(), this.self.nodeId)
      await client.quit()
    } catch (error) {
      this.components.logger.debug('membership: could not leave cleanly', { error })
    }
    client.disconnect()
    for (const waiter of this.waiters.splice(0)) waiter()
  }

  private schedule(): void {
    this.cancelTimer = this.components.clock.setTimer(this.settings.heartbeatMs, () => {
      if (!this.running) return
      this.renew().then(
        () => this.running && this.schedule(),
        (error: unknown) => {
          this.components.logger.warn('membership: heartbeat failed; retrying', {
            error: errorMessage(error),
          })
          if (this.running) this.schedule()
        },
      )
    })
  }

  /** One heartbeat: renews this node and takes the view Redis returns. */
  private async renew(): Promise<void> {
    const client = this.client
    if (!client) return
    const sentAt = this.components.clock.now()
    // Judged before the reply: a node paused past its timeout must not count this renewal as continuous.
    const wasCurrent = this.registered && this.current
    const reply = (await client.anywhereHeartbeat(
      this.keys.members(),
      this.keys.memberInfo(),
      this.self.nodeId,
      this.settings.timeoutMs,
      JSON.stringify({ url: this.self.url, startedAt: this.self.startedAt }),
    )) as (string | number)[]
    if (!this.running) return
    const added = Number(reply[0]) === 1
    const redisNow = Number(reply[1])
    const members: GeoMember[] = []
    const expiries = new Map<string, number>()
    for (let i = 2; i + 2 < reply.length; i += 3) {
      const nodeId = String(reply[i])
      expiries.set(nodeId, Number(reply[i + 1]))
      const info = parseInfo(String(reply[i + 2]))
      if (info) members.push({ nodeId, ...info })
    }
    members.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    this.renewedAt = sentAt
    // (Re)registered now: the others learn of this node at their next renewal.
    if (added)
      this.unseenBy = new Map([...expiries].filter(([nodeId]) => nodeId !== this.self.nodeId))
    const lapsed = this.registered && (added || !wasCurrent)
    this.registered = true
    this.apply(members, expiries, redisNow, lapsed)
  }

  private apply(
    members: GeoMember[],
    expiries: Map<string, number>,
    redisNow: number,
    lapsed: boolean,
  ): void {
    const before = new Map(this.view.map((m) => [m.nodeId, m]))
    const after = new Set(members.map((m) => m.nodeId))
    const joined = members.filter(
      (m) => !before.has(m.nodeId) || (lapsed && m.nodeId === this.self.nodeId),
    )
    const left = [...before.keys()]
      .filter((id) => !after.has(id))
      .map((nodeId) => ({
        nodeId,
        reason:
          (this.expiries.get(nodeId) ?? 0) > redisNow ? ('stopped' as const) : ('expired' as const),
      }))
    this.view = members
    this.expiries = expiries
    if (joined.length === 0 && left.length === 0 && !lapsed) return
    const { taps, clock, logger } = this.components
    for (const member of joined) {
      logger.info('member joined the geo', { member: member.nodeId, url: member.url })
      taps.publish({ kind: 'member.joined', at: clock.now(), ...member })
    }
    for (const { nodeId, reason } of left) {
      logger.info('member left the geo', { member: nodeId, reason })
      taps.publish({ kind: 'member.left', at: clock.now(), nodeId, reason })
    }
    if (lapsed)
      logger.warn(
        'this node had dropped out of the geo (paused or cut off from Redis past the membership timeout): its actors reload',
      )
    for (const listener of this.listeners) listener({ joined, left, lapsed })
    for (const waiter of this.waiters.splice(0)) waiter()
  }
}

function parseInfo(json: string): { url: string; startedAt: number } | undefined {
  try {
    const value = JSON.parse(json) as { url?: unknown; startedAt?: unknown }
    if (typeof value.url === 'string' && typeof value.startedAt === 'number')
      return { url: value.url, startedAt: value.startedAt }
  } catch {
    // A registration this version cannot read: the member is left out of the view.
  }
  return undefined
}
