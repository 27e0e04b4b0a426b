import { Redis, type RedisOptions } from 'ioredis'
import { z } from 'zod'
import {
  compareOriginSeq,
  AbortedError,
  AnywhereError,
  ConfigError,
  NotRunningError,
  StoreCorruptError,
  StoreUnavailableError,
  type AbortOptions,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type EventStoreComponents,
  type Logger,
  type ReadActorOptions,
  type Snapshot,
  type VersionVector,
} from '../../core/index.js'
import {
  decodeMember,
  decodeName,
  decodeSnapshot,
  encodeBody,
  encodeMember,
  encodeName,
  encodeSnapshot,
  MemberDecodeError,
  sortKeyHead,
  sortKeySuccessor,
} from './encoding.js'
import { RedisKeys } from './keys.js'
import {
  APPEND_SCRIPT,
  INGEST_SCRIPT,
  LOAD_SNAPSHOT_SCRIPT,
  SAVE_SNAPSHOT_SCRIPT,
  VECTOR_SCRIPT,
} from './scripts.js'
import { raceAbort } from '../../support/abort.js'

/** What a user configures for the Redis store. */
export interface RedisStoreInit {
  /** `redis://[user:password@]host:port[/db]` or `rediss://...` */
  url: string
  /** Every key of the store starts with this. Nodes of one geo share a prefix; default `anywhere:`. */
  prefix?: string
  /** A command with no answer within this many ms fails with `StoreUnavailableError`. */
  commandTimeoutMs?: number
  /** A connection attempt (at start and on every reconnect) gives up after this many ms. */
  connectTimeoutMs?: number
  /** The longest pause between two reconnect attempts (the backoff doubles up to this). */
  reconnectMaxDelayMs?: number
  /**
   * Appends that arrive together go to Redis as one script call of at most this many
   * events: sent as soon as it is full, else at the end of the event-loop turn.
   */
  maxBatchEvents?: number
}

/** The defaults of every optional `RedisStoreInit` field. */
export const REDIS_STORE_DEFAULTS = {
  prefix: 'anywhere:',
  commandTimeoutMs: 1_500,
  connectTimeoutMs: 1_000,
  reconnectMaxDelayMs: 1_000,
  maxBatchEvents: 64,
} as const

/** The first reconnect waits this long; each next one twice as long, up to `reconnectMaxDelayMs`. */
const RECONNECT_MIN_DELAY_MS = 25
/** How long `stop()` waits for the connection to close after QUIT before cutting it. */
const STOP_GRACE_MS = 1_000
/** Longest key prefix accepted. */
const MAX_PREFIX_LENGTH = 128

const initSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    prefix: z.string().min(1).max(MAX_PREFIX_LENGTH).default(REDIS_STORE_DEFAULTS.prefix),
    commandTimeoutMs: z.number().int().positive().default(REDIS_STORE_DEFAULTS.commandTimeoutMs),
    connectTimeoutMs: z.number().int().positive().default(REDIS_STORE_DEFAULTS.connectTimeoutMs),
    reconnectMaxDelayMs: z
      .number()
      .int()
      .positive()
      .default(REDIS_STORE_DEFAULTS.reconnectMaxDelayMs),
    maxBatchEvents: z.number().int().positive().default(REDIS_STORE_DEFAULTS.maxBatchEvents),
  })
  .strict()

/** A `RedisStoreInit` after parsing: every field set. */
export type RedisStoreSettings = z.output<typeof initSchema>

/** Parses a `RedisStoreInit` once, at the boundary; throws `ConfigError` naming the field. */
export function parseRedisStoreInit(init: RedisStoreInit): RedisStoreSettings {
  const parsed = initSchema.safeParse(init)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConfigError(`redis store: ${issue.path.join('.') || 'init'} ${issue.message}`, {
      cause: parsed.error,
    })
  }
  return parsed.data
}

/**
 * The Redis store: events, per-origin seqs, the per-actor index, the version vector and
 * snapshots of one geo in one Redis, under one key prefix. Durability is Redis's: run it
 * with `appendonly yes` and `appendfsync always` for "an acknowledged write is never lost"
 * (see docs/redis.md). When Redis is down every call fails fast with `StoreUnavailableError`
 * and the store reconnects by itself.
 */
export function redisStore(init: RedisStoreInit): (components: EventStoreComponents) => EventStore {
  const settings = parseRedisStoreInit(init)
  return (components) => new RedisEventStore(settings, components)
}

type Key = Buffer | string
type Arg = Buffer | string | number

/** The scripts the store defines on its connection (`...Buffer` variants reply raw bytes). */
interface StoreScripts {
  anywhereAppend(numKeys: number, keys: Key[], args: Arg[]): Promise<unknown>
  anywhereIngest(numKeys: number, keys: Key[], args: Arg[]): Promise<unknown>
  anywhereSaveSnapshot(numKeys: number, ...keysAndArgs: Arg[]): Promise<unknown>
  anywhereLoadSnapshotBuffer(numKeys: number, ...keysAndArgs: Arg[]): Promise<Buffer | null>
  anywhereVectorBuffer(numKeys: number, ...keysAndArgs: Arg[]): Promise<Buffer[]>
}

/** The only Redis commands the store uses: its scripts, two range reads, INFO and the lifecycle. */
type StoreClient = Pick<
  Redis,
  | 'xrangeBuffer'
  | 'zrangebylexBuffer'
  | 'info'
  | 'defineCommand'
  | 'connect'
  | 'quit'
  | 'disconnect'
  | 'status'
  | 'on'
  | 'once'
  | 'off'
> &
  StoreScripts

const SCRIPTS: Record<string, string> = {
  anywhereAppend: APPEND_SCRIPT,
  anywhereIngest: INGEST_SCRIPT,
  anywhereSaveSnapshot: SAVE_SNAPSHOT_SCRIPT,
  anywhereLoadSnapshot: LOAD_SNAPSHOT_SCRIPT,
  anywhereVector: VECTOR_SCRIPT,
}

/** One `append` call waiting to be sent in the next batch. */
interface PendingAppend {
  readonly drafts: readonly EventDraft[]
  /** Per draft: its actor index key, sort-key head (no seq) and body. */
  readonly encoded: readonly { actor: Buffer; head: Buffer; body: Buffer }[]
  settled: boolean
  resolve(records: EventRecord[]): void
  reject(error: unknown): void
}

/** The Redis store itself; `redisStore(init)` builds one with the node's components. */
export class RedisEventStore implements EventStore {
  private readonly keys: RedisKeys
  private readonly logger: Logger
  private client: StoreClient | undefined
  private running = false
  private available = true
  private queue: PendingAppend[] = []
  private queuedEvents = 0
  private flushTimer: NodeJS.Immediate | undefined

  constructor(
    private readonly settings: RedisStoreSettings,
    private readonly components: EventStoreComponents,
  ) {
    this.keys = new RedisKeys(settings.prefix)
    this.logger = components.logger.child({ store: 'redis', prefix: settings.prefix })
  }

  async start(): Promise<void> {
    if (this.running) return
    const { settings } = this
    const options: RedisOptions = {
      lazyConnect: true,
      // Fail fast: no queue while disconnected, no retry of a command, no resend after a
      // reconnect (an append whose reply was lost may have been applied: resending it would
      // store it twice; its caller got an error and was never acknowledged).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: settings.commandTimeoutMs,
      connectTimeout: settings.connectTimeoutMs,
      retryStrategy: (attempt) =>
        Math.min(
          RECONNECT_MIN_DELAY_MS * 2 ** Math.min(attempt - 1, 16),
          settings.reconnectMaxDelayMs,
        ),
      // Shown by CLIENT LIST; Redis refuses spaces and newlines in it.
      connectionName: `anywhere-store:${this.components.nodeId.replace(/[^\w.:-]/g, '_')}`,
    }
    const client = new Redis(settings.url, options) as unknown as StoreClient
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua })
    client.on('error', (error: Error) => {
      this.logger.debug('redis connection error', { error })
    })
    client.on('close', () => {
      if (this.running) this.markUnavailable('the connection to Redis closed')
    })
    client.on('ready', () => {
      if (this.running) this.markAvailable()
    })
    try {
      await client.connect()
    } catch (error) {
      client.disconnect()
      throw new StoreUnavailableError(
        `cannot reach Redis at ${redactUrl(settings.url)}: ${errorMessage(error)}; start redis-server or fix the store url`,
        { cause: error },
      )
    }
    this.client = client
    this.running = true
    this.available = true
    await this.warnIfNotDurable(client)
  }

  async stop(): Promise<void> {
    const client = this.client
    if (!client) return
    this.running = false
    // Appends already accepted are sent, not dropped: QUIT below waits for their replies.
    this.flush()
    this.client = undefined
    await closeClient(client)
  }

  async append(drafts: readonly EventDraft[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertRunning()
    throwIfAborted(options?.signal, 'append')
    if (drafts.length === 0) return []
    const encoded = drafts.map((draft) => ({
      actor: this.keys.actor(draft.actorType, draft.actorId),
      head: sortKeyHead(draft.hlc, draft.origin),
      body: encodeBody(draft),
    }))
    return new Promise<EventRecord[]>((resolve, reject) => {
      const signal = options?.signal
      const onAbort = () => settle(pending, new AbortedError('append', { cause: signal?.reason }))
      const pending: PendingAppend = {
        drafts,
        encoded,
        settled: false,
        resolve: (records) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(records)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(pending)
      this.queuedEvents += drafts.length
      // A full batch goes at once, so Redis works on it while the next one fills up.
      if (this.queuedEvents >= this.settings.maxBatchEvents) this.flush()
      else this.flushTimer ??= setImmediate(() => this.flush())
    })
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
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
      if (!Array.isArray(reply))
        throw this.corrupt(this.keys.vector(), 'ingest replied with no list')
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
        const event = this.decode(key, member)
        if (event.actorType !== actorType || event.actorId !== actorId)
          throw this.corrupt(key, `holds an event of ${event.actorType}/${event.actorId}`)
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
        if (fields.length !== 2 || !member) throw this.corrupt(key, 'entry is not one field')
        const event = this.decode(key, member)
        if (event.origin !== origin || event.seq !== first + i)
          throw this.corrupt(key, `entry ${first + i} holds ${event.origin}:${event.seq}`)
        return event
      })
    })
  }

  async versionVector(options?: AbortOptions): Promise<VersionVector> {
    const key = this.keys.vector()
    return this.run('versionVector', options, async (client) => {
      const flat = await client.anywhereVectorBuffer(1, key)
      const entries: [string, number][] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const seq = Number(flat[i + 1]!.toString('latin1'))
        if (!Number.isSafeInteger(seq) || seq < 0)
          throw this.corrupt(key, 'holds a seq that is not a number')
        entries.push([this.decodeName(key, flat[i]!), seq])
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
        throw this.corrupt(key, errorMessage(error), error)
      }
    })
  }

  /** Sends every queued append: batches of up to `maxBatchEvents`, one script call each. */
  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer)
    this.flushTimer = undefined
    this.queuedEvents = 0
    const queued = this.queue.filter((pending) => !pending.settled)
    this.queue = []
    let batch: PendingAppend[] = []
    let events = 0
    for (const pending of queued) {
      if (batch.length > 0 && events + pending.drafts.length > this.settings.maxBatchEvents) {
        this.sendBatch(batch)
        batch = []
        events = 0
      }
      batch.push(pending)
      events += pending.drafts.length
    }
    if (batch.length > 0) this.sendBatch(batch)
  }

  private sendBatch(batch: PendingAppend[]): void {
    const client = this.client
    if (!client) {
      for (const pending of batch) settle(pending, new NotRunningError('the redis store'))
      return
    }
    const call = new WriteCall(this.keys)
    for (const pending of batch)
      pending.drafts.forEach((draft, i) => {
        const { actor, head, body } = pending.encoded[i]!
        call.add(draft.origin, actor, head, body)
      })
    client.anywhereAppend(call.numKeys, call.keys(), call.args()).then(
      (reply) => {
        this.markAvailable()
        const seqs = Array.isArray(reply) ? reply.map(Number) : []
        let i = 0
        for (const pending of batch) {
          const records = pending.drafts.map((draft) => toRecord(draft, seqs[i++]))
          if (records.some((record) => !Number.isSafeInteger(record.seq)))
            settle(
              pending,
              this.corrupt(this.keys.vector(), 'append replied with fewer seqs than drafts'),
            )
          else settle(pending, records)
        }
      },
      (error: unknown) => {
        const failure = this.storeError(error, 'append')
        // One corrupt actor or origin must not fail the appends that shared its batch.
        if (failure instanceof StoreCorruptError && batch.length > 1)
          for (const pending of batch) this.sendBatch([pending])
        else for (const pending of batch) settle(pending, failure)
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
    if (!this.running || !client) throw new NotRunningError('the redis store')
    const signal = options?.signal
    throwIfAborted(signal, what)
    try {
      const result = await raceAbort(command(client), signal, what)
      this.markAvailable()
      return result
    } catch (error) {
      throw this.storeError(error, what)
    }
  }

  /** What a failed command means for the caller: corrupt data, or Redis unreachable. */
  private storeError(error: unknown, what: string): AnywhereError {
    if (error instanceof AnywhereError) return error
    if (error instanceof MemberDecodeError)
      return new StoreCorruptError(`redis store: ${error.message}`, undefined, undefined, {
        cause: error,
      })
    const message = errorMessage(error)
    if (isReplyError(error) && /^(CORRUPT|WRONGTYPE)|not an integer|not a valid/.test(message))
      return new StoreCorruptError(
        `redis store: ${what} found data it did not write under '${this.settings.prefix}': ${message}. ` +
          'Another program may share the key prefix; give the store its own prefix or restore the keys',
        undefined,
        undefined,
        { cause: error },
      )
    const reason = `Redis did not serve ${what}: ${message}`
    this.markUnavailable(reason)
    return new StoreUnavailableError(
      `redis store unavailable (${redactUrl(this.settings.url)}): ${reason}; retry later`,
      { cause: error },
    )
  }

  private decode(key: Buffer, member: Buffer): EventRecord {
    try {
      return decodeMember(member)
    } catch (error) {
      throw this.corrupt(key, errorMessage(error), error)
    }
  }

  private decodeName(key: Buffer, bytes: Buffer): string {
    try {
      return decodeName(bytes)
    } catch (error) {
      throw this.corrupt(key, errorMessage(error), error)
    }
  }

  private corrupt(key: Buffer, detail: string, cause?: unknown): StoreCorruptError {
    return new StoreCorruptError(
      `redis store: key '${key.toString('utf8')}' ${detail}: it was not written by this store version ` +
        'or has been changed; restore it from a replica or a backup',
      undefined,
      undefined,
      { cause },
    )
  }

  private markUnavailable(message: string): void {
    if (!this.available) return
    this.available = false
    this.logger.warn('redis store unavailable; calls fail until Redis answers again', { message })
    this.components.taps.publish({
      kind: 'store.unavailable',
      at: this.components.clock.now(),
      message,
    })
  }

  private markAvailable(): void {
    if (this.available) return
    this.available = true
    this.logger.info('redis store available again')
    this.components.taps.publish({ kind: 'store.available', at: this.components.clock.now() })
  }

  private async warnIfNotDurable(client: StoreClient): Promise<void> {
    try {
      const info = await client.info('persistence')
      if (/^aof_enabled:0/m.test(info))
        this.logger.warn(
          'Redis runs without appendonly: acknowledged events are lost if Redis restarts; ' +
            'set appendonly yes and appendfsync always (docs/redis.md)',
        )
    } catch (error) {
      this.logger.debug('could not read Redis persistence settings', { error })
    }
  }

  private assertRunning(): void {
    if (!this.running) throw new NotRunningError('the redis store')
  }
}

/** The KEYS and ARGV of a write script, laid out as scripts.ts describes. */
class WriteCall {
  private readonly originNumbers = new Map<string, number>()
  private readonly originNames: Buffer[] = []
  private readonly streams: Buffer[] = []
  private readonly actors: Buffer[] = []
  private readonly eventArgs: Arg[] = []

  constructor(private readonly layout: RedisKeys) {}

  /** Adds one event: its origin, actor index and the two script-specific fields. */
  add(origin: string, actor: Buffer, first: Arg, second: Arg): void {
    let number = this.originNumbers.get(origin)
    if (number === undefined) {
      const name = encodeName(origin)
      number = this.originNames.push(name)
      this.originNumbers.set(origin, number)
      this.streams.push(this.layout.origin(name))
    }
    this.actors.push(actor)
    this.eventArgs.push(number, first, second)
  }

  get numKeys(): number {
    return 1 + this.streams.length + this.actors.length
  }

  keys(): Key[] {
    return [this.layout.vector(), ...this.streams, ...this.actors]
  }

  args(): Arg[] {
    return [this.originNames.length, ...this.originNames, ...this.eventArgs]
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

function settle(pending: PendingAppend, outcome: EventRecord[] | Error): void {
  if (pending.settled) return
  pending.settled = true
  if (outcome instanceof Error) pending.reject(outcome)
  else pending.resolve(outcome)
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(what, { cause: signal.reason })
}

/** Rejects when the signal aborts first; the command itself may still complete in Redis. */

/** QUITs when connected, else cuts the connection; resolves once no socket or timer is left. */
async function closeClient(client: StoreClient): Promise<void> {
  if (client.status === 'ready') {
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
    try {
      await client.quit()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        ended,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS))),
      ])
      clearTimeout(timer)
    } catch {
      // Redis went away mid-QUIT: cut the connection below.
    }
  }
  client.disconnect()
}

function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError'
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The URL without its password, for messages and logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')
}
