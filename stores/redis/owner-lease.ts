// One node per Redis prefix, unless the nodes form a geo (`--members`). Two single nodes on
// one prefix would each keep their own copy of an actor in memory, never see the other's
// events, and run commands on stale state. So a single node takes the prefix's owner lease
// (`<root>owner`, expiring unless renewed) and refuses to start when another node holds it,
// as the file store refuses a second process on its data dir. Taking the lease writes a fresh
// token (`<root>owner:token`), and every append of the node is fenced on it in the append
// script: a node paused past its lease (SIGSTOP, a long GC, a VM frozen) whose prefix
// another node took meanwhile has its appends refused by Redis itself, whatever its timers
// believe, and from then on refuses writes with StoreLeaseLostError (HTTP 503).
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { z } from 'zod'
import {
  StoreLeaseLostError,
  StoreLockedError,
  StoreUnavailableError,
  type EventStoreComponents,
  type Logger,
} from '../../core/index.js'
import { describeTarget, errorMessage, type StoreClient } from './connection.js'
import type { RedisKeys } from './keys.js'
import type { RedisStoreSettings } from './options.js'

/** What the lease names: the node that holds the prefix and where it runs. */
const holderSchema = z.object({
  nodeId: z.string(),
  host: z.string().optional(),
  pid: z.number().optional(),
  since: z.string().optional(),
})

type Holder = z.infer<typeof holderSchema>

/** The lease is renewed this many times per `ownerLeaseMs`: two renewals may fail before it expires. */
const RENEWALS_PER_LEASE = 3

/** The prefix's owner lease, held by a node that runs alone on it (no `--members`). */
export class OwnerLease {
  private token: string | undefined
  private value = ''
  private lost: StoreLeaseLostError | undefined
  private cancelTimer: (() => void) | undefined

  constructor(
    private readonly keys: RedisKeys,
    private readonly settings: RedisStoreSettings,
    private readonly components: EventStoreComponents,
    private readonly logger: Logger,
    private readonly client: () => StoreClient | undefined,
  ) {}

  /**
   * Takes the prefix, or throws StoreLockedError naming the node that holds it (or the geo
   * of several nodes that runs on it). The same node, restarted from its data dir, takes its
   * own lease back at once. Renews it from then on, until `release`.
   */
  async take(client: StoreClient): Promise<void> {
    const { nodeId, clock } = this.components
    const holder: Holder = {
      nodeId,
      host: hostname(),
      pid: process.pid,
      since: new Date(clock.now()).toISOString(),
    }
    const token = randomUUID()
    const ttlMs = this.settings.ownerLeaseMs
    const reply = await client.anywhereTakeOwner(
      3,
      this.keys.owner(),
      this.keys.ownerToken(),
      this.keys.members(),
      nodeId,
      JSON.stringify(holder),
      token,
      ttlMs,
    )
    const [taken, detail, pttl] = Array.isArray(reply) ? (reply as unknown[]) : []
    if (taken === 1) {
      this.token = token
      this.value = JSON.stringify({ ...holder, token })
      this.lost = undefined
      this.schedule()
      return
    }
    if (taken === -1) throw new StoreLockedError(this.geoMessage(Number(detail)))
    throw new StoreLockedError(this.heldMessage(String(detail), Number(pttl)))
  }

  /** Gives the lease up (a clean stop): another node may take the prefix at once. */
  async release(client: StoreClient): Promise<void> {
    this.cancelTimer?.()
    this.cancelTimer = undefined
    const token = this.token
    this.token = undefined
    if (!token || this.lost) return
    try {
      await client.anywhereReleaseOwner(2, this.keys.owner(), this.keys.ownerToken(), token)
    } catch (error) {
      this.logger.warn('could not give up the prefix owner lease; it expires on its own', {
        error,
        ownerLeaseMs: this.settings.ownerLeaseMs,
      })
    }
  }

  /** Throws StoreLeaseLostError once another node has taken the prefix. */
  assertHeld(): void {
    if (this.lost) throw this.lost
  }

  /** The fence every append carries: the owner token key and this node's token. */
  fence(): { key: Buffer; token: string } | undefined {
    return this.token ? { key: this.keys.ownerToken(), token: this.token } : undefined
  }

  /** Whether a failed append was refused by this lease's fence (not an actor's). */
  isOwnFence(message: string): boolean {
    return /^FENCED/.test(message) && message.includes(this.keys.ownerToken().toString('utf8'))
  }

  /**
   * What an append refused by the owner fence means: the prefix changed hands (the lease is
   * lost for good), or Redis lost its data (no token at all: renewed at once, retry).
   */
  refused(message: string): StoreLeaseLostError | StoreUnavailableError {
    // Lua reads a missing key as false: the prefix holds no token at all.
    if (/ is at epoch (false|nil),/.test(message)) {
      void this.renew()
      return new StoreUnavailableError(
        `redis store (${describeTarget(this.settings)}): the prefix '${this.settings.prefix}' lost its owner token ` +
          '(Redis restarted without its data?); the append was not applied, retry',
      )
    }
    return this.lose()
  }

  private schedule(): void {
    const every = Math.max(1, Math.floor(this.settings.ownerLeaseMs / RENEWALS_PER_LEASE))
    this.cancelTimer = this.components.clock.setTimer(every, () => {
      void this.renew().finally(() => {
        if (this.cancelTimer && !this.lost) this.schedule()
      })
    })
  }

  private async renew(): Promise<void> {
    const client = this.client()
    const token = this.token
    if (!client || !token || this.lost) return
    try {
      const held = await client.anywhereRenewOwner(
        2,
        this.keys.owner(),
        this.keys.ownerToken(),
        token,
        this.value,
        this.settings.ownerLeaseMs,
      )
      if (held !== 1 && this.token === token) this.lose()
    } catch (error) {
      // Redis away: the next renewal tries again. Appends are fenced in Redis meanwhile.
      this.logger.debug('renewing the prefix owner lease failed', { message: errorMessage(error) })
    }
  }

  private lose(): StoreLeaseLostError {
    if (this.lost) return this.lost
    const { prefix, ownerLeaseMs } = this.settings
    this.lost = new StoreLeaseLostError(
      `redis store: this node (${this.components.nodeId}) no longer holds the prefix '${prefix}' on ${describeTarget(this.settings)}: ` +
        `another node took it after this node's lease expired (this process was paused, or cut off from Redis, ` +
        `for longer than ownerLeaseMs = ${ownerLeaseMs} ms). Its actors' state may be stale, so it refuses every write: ` +
        'stop this node; run it again once the other node is stopped, or on another prefix (--redis-prefix), ' +
        'or start every node of the prefix with --members (a geo of several nodes)',
    )
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.logger.error('lost the prefix owner lease to another node: refusing writes', {
      prefix,
      ownerLeaseMs,
    })
    return this.lost
  }

  private heldMessage(raw: string, pttl: number): string {
    const { prefix } = this.settings
    let holder: Holder | undefined
    try {
      const parsed = holderSchema.safeParse(JSON.parse(raw))
      holder = parsed.success ? parsed.data : undefined
    } catch {
      holder = undefined
    }
    const where = [
      holder?.host ? `host ${holder.host}` : undefined,
      holder?.pid !== undefined ? `pid ${holder.pid}` : undefined,
      holder?.since ? `since ${holder.since}` : undefined,
    ].filter((part) => part !== undefined)
    const who = holder
      ? `node ${holder.nodeId}${where.length > 0 ? ` (${where.join(', ')})` : ''}`
      : `another node (its lease reads ${JSON.stringify(raw.slice(0, 120))})`
    const expiry =
      pttl > 0
        ? `If that node is gone without a clean stop (kill -9, a lost host), its lease expires in ${pttl} ms unless that node renews it: start this node again after that `
        : `The lease has no expiry (no node set it so): once sure that no node runs on this prefix, delete the key '${this.keys.owner().toString('utf8')}' and start this node again `
    return (
      `redis prefix '${prefix}' on ${describeTarget(this.settings)} is held by ${who}: ` +
      'two nodes on one prefix without --members would each run their own copy of an actor on stale state, so this node does not start. ' +
      'To run several nodes on this prefix, start every one of them with --members (a geo of several nodes); ' +
      'to run this node on its own, give it another prefix (--redis-prefix). ' +
      expiry +
      '(the same node, started again from its data dir, takes its lease back at once)'
    )
  }

  private geoMessage(members: number): string {
    return (
      `redis prefix '${this.settings.prefix}' on ${describeTarget(this.settings)} is used by a geo of several nodes ` +
      `(${members} live member${members === 1 ? '' : 's'}): start this node with --members to join it, ` +
      'or give it another prefix (--redis-prefix)'
    )
  }
}
