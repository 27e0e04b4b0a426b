// The Redis store's one client: how it is opened (fail fast, reconnect with backoff),
// checked, closed, and described in messages. On one Redis it is an ioredis `Redis`; on a
// Redis Cluster an ioredis `Cluster`, which routes each command to the master of its slot,
// follows MOVED and ASK, and loads each script on each master (EVALSHA, then EVAL on NOSCRIPT).
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { ConfigError, StoreUnavailableError, type Logger } from '../../core/index.js'
import type { RedisKeys } from './keys.js'
import { clusterTarget, type ClusterTarget, type RedisStoreSettings } from './options.js'
import { defineStoreScripts, type StoreScripts } from './scripts.js'

/** The first reconnect waits this long; each next one twice as long, up to `reconnectMaxDelayMs`. */
const RECONNECT_MIN_DELAY_MS = 25
/** How long closing waits for the connection to close after QUIT before cutting it. */
const STOP_GRACE_MS = 1_000

/** The only Redis commands the store uses: its scripts, two range reads, INCR (claims), INFO and the lifecycle. */
export type StoreClient = Pick<
  Redis,
  | 'xrangeBuffer'
  | 'xrevrangeBuffer'
  | 'xlen'
  | 'zrangebylexBuffer'
  | 'info'
  | 'exists'
  | 'incr'
  | 'set'
  | 'getBuffer'
  | 'hgetallBuffer'
  | 'hset'
  | 'xreadBuffer'
  | 'duplicate'
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

/** A client with the store's scripts defined, not yet connected (attach listeners, then connect). */
export function createStoreClient(settings: RedisStoreSettings, nodeId: string): StoreClient {
  const client = createRedisClient(settings, `anywhere-store:${nodeId}`) as unknown as StoreClient
  defineStoreScripts(client)
  return client
}

/**
 * A client of the store's Redis (one `Redis`, or a `Cluster` on `settings.cluster`), failing
 * fast as the store's does, not yet connected; `name` shows in CLIENT LIST. Membership opens
 * its own with this, so its heartbeats run wherever the store runs.
 */
export function createRedisClient(settings: RedisStoreSettings, name: string): Redis | Cluster {
  return settings.cluster
    ? createClusterClient(settings, settings.cluster, name)
    : new Redis(settings.url!, connectionOptions(settings, name))
}

/** The options of one connection: to the one Redis, or to each node of a cluster. */
function connectionOptions(settings: RedisStoreSettings, name: string): RedisOptions {
  return {
    lazyConnect: true,
    // Fail fast: no queue while disconnected, no retry of a command, no resend after a
    // reconnect (an append whose reply was lost may have been applied: resending it would
    // store it twice; its caller got an error and was never acknowledged).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (attempt) => reconnectDelay(attempt, settings),
    // Shown by CLIENT LIST; Redis refuses spaces and newlines in it.
    connectionName: name.replace(/[^\w.:-]/g, '_'),
  }
}

/**
 * A Cluster client that fails as fast as the one-Redis client. It resends a command only
 * where Redis did not run it: MOVED and ASK (the slot is elsewhere) and TRYAGAIN (keys in
 * migration). It never resends after a lost connection (`retryDelayOnFailover: 0`): the
 * append may have run, and resending it would store its events twice.
 */
function createClusterClient(
  settings: RedisStoreSettings,
  urls: readonly string[],
  name: string,
): Cluster {
  // The schema has checked every entry and that they share one login.
  const targets = urls.map((url) => clusterTarget(url)!)
  const { tls, username, password } = targets[0]!
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // The ready check's CLUSTER INFO goes to a random node, and is refused when that node's
    // connection is still opening (see '+node' below), after which connect() never settles.
    // A cluster that is down answers CLUSTERDOWN to the store's first command instead.
    enableReadyCheck: false,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: settings.connectTimeoutMs,
    clusterRetryStrategy: (attempt) => reconnectDelay(attempt, settings),
    redisOptions: {
      ...connectionOptions(settings, name),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(tls ? { tls: {} } : {}),
    },
  }
  const cluster = new Cluster(
    targets.map(({ host, port }) => ({ host, port })),
    options,
  )
  // The client opens a node's connection on its first command and, with no offline queue,
  // refuses the commands that come while it is opening. Open each one as soon as it is known
  // (at start, after MOVED to a new or restarted master), so concurrent calls find it open.
  cluster.on('+node', (node: Redis) => {
    if (node.status === 'wait') node.connect().catch(() => {})
  })
  return cluster
}

/** `promise`, or a rejection with `message` after `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Waits (at most `timeoutMs`) until every master connection is open, so that the store's
 * first concurrent calls find them open. A master that does not answer is left to fail the
 * calls of its own slots: the geos on the other masters start and serve.
 */
async function openMasters(cluster: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const node of cluster.nodes('master')) {
    while (node.status !== 'ready' && node.status !== 'end' && Date.now() < deadline) {
      if (node.status === 'wait') node.connect().catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}

function reconnectDelay(attempt: number, settings: RedisStoreSettings): number {
  return Math.min(
    RECONNECT_MIN_DELAY_MS * 2 ** Math.min(attempt - 1, 16),
    settings.reconnectMaxDelayMs,
  )
}

/** Connects; when Redis cannot be reached, cuts the client and throws `StoreUnavailableError`. */
export async function connectStoreClient(
  client: StoreClient | Redis | Cluster,
  settings: RedisStoreSettings,
): Promise<void> {
  try {
    if (client instanceof Cluster) {
      // Bounded: the Cluster client retries its startup nodes (clusterRetryStrategy) forever.
      await withTimeout(client.connect(), settings.connectTimeoutMs, 'no startup node answered')
      await openMasters(client, settings.connectTimeoutMs)
    } else await client.connect()
  } catch (error) {
    client.disconnect()
    throw new StoreUnavailableError(
      `cannot reach ${describeTarget(settings)}: ${errorMessage(error)}; ` +
        (settings.cluster
          ? 'start the cluster (every slot served: cluster_state:ok) or fix store.cluster'
          : 'start redis-server or fix the store url'),
      { cause: error },
    )
  }
}

/** QUITs when connected, else cuts the connection; resolves once no socket or timer is left. */
export async function closeStoreClient(client: StoreClient): Promise<void> {
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

/**
 * Refuses to start on data this store would not see: a `url` that points at a cluster node
 * (its scripts would fail with CROSSSLOT), or a prefix whose events are under the other key
 * layout (copied between one Redis and a cluster without renaming: starting empty would hand
 * out this node's seqs again). Throws `ConfigError` saying what to do.
 */
export async function checkTarget(
  client: StoreClient,
  settings: RedisStoreSettings,
  keys: RedisKeys,
): Promise<void> {
  if (!settings.cluster) {
    // A Redis that refuses INFO (an ACL, a managed service) is taken as not a cluster node.
    const info = await client.info('cluster').catch((error: unknown) => {
      if (isReplyError(error)) return ''
      throw error
    })
    if (/^cluster_enabled:1/m.test(info))
      throw new ConfigError(
        `redis store: ${describeTarget(settings)} is a Redis Cluster node; configure ` +
          `store.cluster: ['${redactUrl(settings.url!)}', ...] (or --redis-cluster) instead of url`,
      )
  }
  // A prefix with events under its own layout is right. Only an empty one is checked for
  // the other layout, whose key may be on another master: a geo with data starts even when
  // that master is down.
  if ((await client.exists(keys.vector())) === 1) return
  if ((await client.exists(keys.otherLayoutVector())) === 1)
    throw new ConfigError(
      `redis store: prefix '${settings.prefix}' holds events under the ` +
        (keys.layout === 'plain' ? 'Redis Cluster' : 'one-Redis') +
        ` key layout ('${keys.otherLayoutVector().toString()}'), not the one this ` +
        `${settings.cluster ? 'cluster' : 'one-Redis'} store uses ('${keys.vector().toString()}'). ` +
        `Copy them into this layout with \`anywhere-node redis-copy --prefix ${settings.prefix} ` +
        (keys.layout === 'plain'
          ? '--from-cluster <host:port,...> --to-url <url>'
          : '--from-url <url> --to-cluster <host:port,...>') +
        '` (docs/redis.md, "Moving a geo between one Redis and a Redis Cluster"), ' +
        'or start this geo on another prefix',
    )
}

/** Logs a warning when Redis (any master of a cluster) runs without AOF: an acknowledged event may be lost. */
export async function warnIfNotDurable(client: StoreClient, logger: Logger): Promise<void> {
  try {
    const masters = client instanceof Cluster ? client.nodes('master') : [client]
    const infos = await Promise.all(masters.map((master) => master.info('persistence')))
    if (infos.some((info) => /^aof_enabled:0/m.test(info)))
      logger.warn(
        'Redis runs without appendonly: acknowledged events are lost if Redis restarts; ' +
          'set appendonly yes and appendfsync always (docs/redis.md)',
      )
  } catch (error) {
    logger.debug('could not read Redis persistence settings', { error })
  }
}

/** Where the store's Redis is, without passwords: for messages and logs. */
export function describeTarget(settings: RedisStoreSettings): string {
  if (settings.cluster) {
    const nodes = settings.cluster.map((url) => {
      const target: ClusterTarget | undefined = clusterTarget(url)
      return target ? `${target.host}:${target.port}` : '?'
    })
    return `the Redis Cluster at ${nodes.join(',')}`
  }
  return `Redis at ${redactUrl(settings.url!)}`
}

/** True for an error reply of Redis (a script's `error_reply`, WRONGTYPE, ...), not a connection failure. */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError'
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')
}
