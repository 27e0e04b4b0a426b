// The Redis store's facade: the EventStore calls, each one script or read on one connection.
import {
  compareOriginSeq,
  ConfigError,
  FencedError,
  NotRunningError,
  StoreCorruptError,
  StoreLockedError,
  type AbortOptions,
  type AppendOptions,
  type EventDraft,
  type EventFollower,
  type EventFollowing,
  type EventRecord,
  type EventStore,
  type EventStoreComponents,
  type Logger,
  type ReadActorOptions,
  type RoleLease,
  type Snapshot,
  type VersionVector,
  notRunningMessage,
} from '../../core/index.js'
import { AppendQueue, settleAppend, type PendingAppend } from './append-queue.js'
import {
  closeStoreClient,
  checkTarget,
  connectStoreClient,
  createStoreClient,
  errorMessage,
  isReplyError,
  warnIfNotDurable,
  type StoreClient,
} from './connection.js'
import {
  corruptKey,
  decodeMemberAt,
  decodeNameAt,
  decodeSnapshot,
  encodeBody,
  encodeMember,
  encodeName,
  encodeSnapshot,
  sortKeyHead,
  sortKeySuccessor,
} from './encoding.js'
import { RedisEventFollower } from './event-follower.js'
import { RedisKeys } from './keys.js'
import { OwnerLease } from './owner-lease.js'
import { parseRedisStoreInit, type RedisStoreInit, type RedisStoreSettings } from './options.js'
import { WriteCall } from './scripts.js'
import { RedisStoreHealth } from './store-health.js'
import { raceAbort, throwIfAborted } from '../../support/abort.js'

/**
 * The Redis store: events, per-origin seqs, the per-actor index, the version vector and
 * snapshots of one geo in one Redis, under one key prefix. Durability is Redis's: run it
 * with `appendonly yes` and `appendfsync always` for "an acknowledged write is never lost"
 * (see docs/redis.md). When Redis is down every call fails fast with `StoreUnavailableError`
 * and the store reconnects by itself.
 */
export function redisStore(
  init: RedisStoreInit,
  use: RedisStoreUse = {},
): (components: EventStoreComponents) => EventStore {
  const settings = parseRedisStoreInit(init)
  return (components) => new RedisEventStore(settings, components, use)
}

/** How the node uses the store (decided by the node, not configured by the user). */
export interface RedisStoreUse {
  /**
   * The node runs alone on the prefix (no `--members`): it takes the prefix's owner lease at
   * start (StoreLockedError while another node holds it) and fences its appends on it.
   */
  soleNode?: boolean
}

/** The Redis store itself; `redisStore(init)` builds one with the node's components. */
export class RedisEventStore implements EventStore, EventFollowing, RoleLease {
  private readonly keys: RedisKeys
  private readonly logger: Logger
  private client: StoreClient | undefined
  private running = false
  private readonly health: RedisStoreHealth
  private readonly appends: AppendQueue
  /** The prefix's owner lease, held by a node that runs alone on it. */
  private readonly owner: OwnerLease | undefined

  constructor(
    private readonly settings: RedisStoreSettings,
    private readonly components: EventStoreComponents,
    use: RedisStoreUse = {},
  ) {
    this.keys = new RedisKeys(settings.prefix, settings.cluster ? 'hash-tagged' : 'plain')
    this.logger = components.logger.child({ store: 'redis', prefix: settings.prefix })
    this.health = new RedisStoreHealth(settings, components, this.logger)
    this.appends = new AppendQueue(settings.maxBatchEvents, (batch) => this.sendBatch(batch))
    this.owner = use.soleNode
      ? new OwnerLease(this.keys, settings, components, this.logger, () => this.client)
      : undefined
  }

  async start(): Promise<void> {
    if (this.running) return
    const { settings } = this
    const client = createStoreClient(settings, this.components.nodeId)
    client.on('error', (error: Error) => {
      this.logger.debug('redis connection error', { error })
    })
    client.on('close', () => {
      if (this.running) this.health.unavailable('the connection to Redis closed')
    })
    client.on('ready', () => {
      if (this.running) this.health.answered()
    })
    await connectStoreClient(client, settings)
    try {
      await checkTarget(client, settings, this.keys)
      await this.owner?.take(client)
    } catch (error) {
      await closeStoreClient(client)
      throw error instanceof ConfigError || error instanceof StoreLockedError
        ? error
        : this.health.failure(error, 'start')
    }
    this.client = client
    this.running = true
    this.health.reset()
    await warnIfNotDurable(client, this.logger)
  }

  async stop(): Promise<void> {
    const client = this.client
    if (!client) return
    this.running = false
    // Appends already accepted are sent, not dropped: QUIT below waits for their replies.
    this.appends.flush()
    this.client = undefined
    // After the flushed appends (one connection, in order): nothing of this node follows.
    await this.owner?.release(client)
    await closeStoreClient(client)
  }

  async append(drafts: readonly EventDraft[], options?: AppendOptions): Promise<EventRecord[]> {
    this.assertRunning()
    this.owner?.assertHeld()
    throwIfAborted(options?.signal, 'append')
    if (drafts.length === 0) return []
    const encoded = drafts.map((draft) => ({
      actor: this.keys.actor(draft.actorType, draft.actorId),
      head: sortKeyHead(draft.hlc, draft.origin),
      body: encodeBody(draft),
    }))
    return this.appends.enqueue(drafts, encoded, options?.signal, options?.fence)
  }

  /** Moves the actor's fencing epoch on (a node of the geo takes it) and returns it. */
  async claimActor(actorType: string, actorId: string, options?: AbortOptions): Promise<number> {
    const key = this.keys.fence(actorType, actorId)
    return this.run('claimActor', options, (client) => client.incr(key))
  }

  /** Reads what the geo's nodes store, on a connection of its own (a geo of several nodes). */
  followEvents(): EventFollower {
    const client = this.client
    if (!this.running || !client) throw new NotRunningError(notRunningMessage('the redis store'))
    // A client of its own, made as the store's is (a cluster's node handling included).
    return new RedisEventFollower(
      createStoreClient(this.settings, `${this.components.nodeId}:follow`),
      this.settings,
      this.keys,
      (key, member) => decodeMemberAt(key, member),
      this.logger,
    )
  }

  async holdLease(
    role: string,
    holder: string,
    ttlMs: number,
    options?: AbortOptions,
  ): Promise<boolean> {
    const key = this.keys.lease(role)
    return this.run('holdLease', options, async (client) => {
      return (await client.anywhereHoldLease(1, key, holder, Math.ceil(ttlMs))) === 1
    })
  }

  async releaseLease(role: string, holder: string, options?: AbortOptions): Promise<void> {
    const key = this.keys.lease(role)
    await this.run('releaseLease', options, (client) => client.anywhereReleaseLease(1, key, holder))
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    this.owner?.assertHeld()
    if (events.length === 0) return this.run('ingest', options, async () => [])
    const sorted = [...events].sort(compareOriginSeq)
    const call = new WriteCall(this.keys)
    for (const event of sorted)
      call.add(
        event.origin,
        this.keys.actor(event.actorType, event.actorId),
        event.seq,
        encodeMember(event),
      )
    return this.run('ingest', options, async (client) => {
      const reply = await client.anywhereIngest(call.numKeys, call.keys(), call.args())
      if (!Array.isArray(reply)) throw corruptKey(this.keys.vector(), 'ingest replied with no list')
      return reply.map((number) => sorted[Number(number) - 1]!)
    })
  }

  async readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    const key = this.keys.actor(actorType, actorId)
    const min = options?.after ? Buffer.concat([INCLUSIVE, sortKeySuccessor(options.after)]) : '-'
    return this.run('readActor', options, async (client) => {
      const members = await client.zrangebylexBuffer(key, min, '+')
      return members.map((member) => {
        const event = decodeMemberAt(key, member)
        if (event.actorType !== actorType || event.actorId !== actorId)
          throw corruptKey(key, `holds an event of ${event.actorType}/${event.actorId}`)
        return event
      })
    })
  }

  async readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    const key = this.keys.origin(encodeName(origin))
    const first = Math.max(1, Math.floor(fromSeq))
    return this.run('readOrigin', options, async (client) => {
      if (limit < 1) return []
      const entries = await client.xrangeBuffer(key, `${first}-0`, '+', 'COUNT', Math.floor(limit))
      return entries.map(([, fields], i) => {
        const member = fields[1]
        if (fields.length !== 2 || !member) throw corruptKey(key, 'entry is not one field')
        const event = decodeMemberAt(key, member)
        if (event.origin !== origin || event.seq !== first + i)
          throw corruptKey(key, `entry ${first + i} holds ${event.origin}:${event.seq}`)
        return event
      })
    })
  }

  async versionVector(options?: AbortOptions): Promise<VersionVector> {
    // Also what /readyz probes: a node that lost its prefix reads as not ready.
    this.owner?.assertHeld()
    const key = this.keys.vector()
    return this.run('versionVector', options, async (client) => {
      const flat = await client.anywhereVectorBuffer(1, key)
      const entries: [string, number][] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const seq = Number(flat[i + 1]!.toString('latin1'))
        if (!Number.isSafeInteger(seq) || seq < 0)
          throw corruptKey(key, 'holds a seq that is not a number')
        entries.push([decodeNameAt(key, flat[i]!), seq])
      }
      const vector: VersionVector = Object.fromEntries(entries)
      return vector
    })
  }

  async saveSnapshot(snapshot: Snapshot, options?: AbortOptions): Promise<void> {
    const index = this.keys.actor(snapshot.actorType, snapshot.actorId)
    const key = this.keys.snapshot(snapshot.actorType, snapshot.actorId)
    const upto = Buffer.concat([EXCLUSIVE, sortKeySuccessor(snapshot.at)])
    const state = encodeSnapshot(snapshot)
    await this.run('saveSnapshot', options, (client) =>
      client.anywhereSaveSnapshot(2, index, key, upto, snapshot.eventCount, state),
    )
  }

  async loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined> {
    const index = this.keys.actor(actorType, actorId)
    const key = this.keys.snapshot(actorType, actorId)
    return this.run('loadSnapshot', options, async (client) => {
      const bytes = await client.anywhereLoadSnapshotBuffer(2, index, key)
      if (!bytes) return undefined
      try {
        return decodeSnapshot(bytes, actorType, actorId)
      } catch (error) {
        throw corruptKey(key, errorMessage(error), error)
      }
    })
  }

  /** Sends one batch of appends as one script call and settles each append of it. */
  private sendBatch(batch: PendingAppend[]): void {
    const client = this.client
    if (!client) {
      for (const pending of batch)
        settleAppend(pending, new NotRunningError(notRunningMessage('the redis store')))
      return
    }
    const call = new WriteCall(this.keys)
    for (const pending of batch) {
      pending.drafts.forEach((draft, i) => {
        const { actor, head, body } = pending.encoded[i]!
        call.add(draft.origin, actor, head, body)
      })
      const first = pending.drafts[0]
      if (pending.fence !== undefined && first)
        call.fence(this.keys.fence(first.actorType, first.actorId), pending.fence)
    }
    const owner = this.owner?.fence()
    if (owner) call.fence(owner.key, owner.token)
    client.anywhereAppend(call.numKeys, call.keys(), call.args()).then(
      (reply) => {
        this.health.answered()
        const seqs = Array.isArray(reply) ? reply.map(Number) : []
        let i = 0
        for (const pending of batch) {
          const records = pending.drafts.map((draft) => toRecord(draft, seqs[i++]))
          if (records.some((record) => !Number.isSafeInteger(record.seq)))
            settleAppend(
              pending,
              corruptKey(this.keys.vector(), 'append replied with fewer seqs than drafts'),
            )
          else settleAppend(pending, records)
        }
      },
      (error: unknown) => {
        if (this.owner && isReplyError(error) && this.owner.isOwnFence(errorMessage(error))) {
          const refused = this.owner.refused(errorMessage(error))
          for (const pending of batch) settleAppend(pending, refused)
          return
        }
        const failure = this.health.failure(error, 'append')
        // One corrupt or fenced actor must not fail the appends that shared its batch.
        if (
          (failure instanceof StoreCorruptError || failure instanceof FencedError) &&
          batch.length > 1
        )
          for (const pending of batch) this.sendBatch([pending])
        else
          for (const pending of batch) {
            if (failure instanceof FencedError) this.health.fenced(pending.drafts[0], failure)
            settleAppend(pending, failure)
          }
      },
    )
  }

  /** Runs one store call: checks state and signal, maps every failure to a store error. */
  private async run<T>(
    what: string,
    options: AbortOptions | undefined,
    command: (client: StoreClient) => Promise<T>,
  ): Promise<T> {
    const client = this.client
    if (!this.running || !client) throw new NotRunningError(notRunningMessage('the redis store'))
    const signal = options?.signal
    throwIfAborted(signal, what)
    try {
      const result = await raceAbort(command(client), signal, what)
      this.health.answered()
      return result
    } catch (error) {
      throw this.health.failure(error, what)
    }
  }

  private assertRunning(): void {
    if (!this.running) throw new NotRunningError(notRunningMessage('the redis store'))
  }
}

const INCLUSIVE = Buffer.from('[')
const EXCLUSIVE = Buffer.from('(')

function toRecord(draft: EventDraft, seq: number | undefined): EventRecord {
  return {
    actorType: draft.actorType,
    actorId: draft.actorId,
    origin: draft.origin,
    seq: seq ?? Number.NaN,
    hlc: draft.hlc,
    type: draft.type,
    payload: draft.payload,
  }
}
