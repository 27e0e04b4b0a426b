// What a user configures for the Redis store, parsed once at the boundary. The schema is
// exported so the node's config can compose it.
import { z } from 'zod'
import { parseInit } from '../../support/options.js'

/** The defaults of every optional `RedisStoreInit` field. */
export const REDIS_STORE_DEFAULTS = {
  prefix: 'anywhere:',
  commandTimeoutMs: 1_500,
  connectTimeoutMs: 1_000,
  reconnectMaxDelayMs: 1_000,
  maxBatchEvents: 64,
  ownerLeaseMs: 10_000,
} as const

/** Shortest `ownerLeaseMs` accepted: the lease is renewed every third of it, one command each. */
export const MIN_OWNER_LEASE_MS = 300

/** Longest key prefix accepted. */
export const MAX_PREFIX_LENGTH = 128
/** Most startup nodes accepted in `cluster` (a few are enough: the client learns the rest). */
export const MAX_CLUSTER_NODES = 64

const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')

/** The fields of `RedisStoreInit`, before the checks that span fields (`redisStoreInitSchema`). */
const redisStoreFieldsSchema = z
  .object({
    /** One Redis: `redis://[user:password@]host:port[/db]` or `rediss://...` */
    url: redisUrl.optional(),
    /**
     * A Redis Cluster: some of its masters' URLs (`redis://[user:password@]host:port`, one
     * scheme and one user for all); the client discovers the rest and follows MOVED/ASK.
     */
    cluster: z.array(redisUrl).min(1).max(MAX_CLUSTER_NODES).optional(),
    /** Every key of the store starts with this. Nodes of one geo share a prefix; default `anywhere:`. */
    prefix: z.string().min(1).max(MAX_PREFIX_LENGTH).default(REDIS_STORE_DEFAULTS.prefix),
    /** A command with no answer within this many ms fails with `StoreUnavailableError`. */
    commandTimeoutMs: z.number().int().positive().default(REDIS_STORE_DEFAULTS.commandTimeoutMs),
    /** A connection attempt (at start and on every reconnect) gives up after this many ms. */
    connectTimeoutMs: z.number().int().positive().default(REDIS_STORE_DEFAULTS.connectTimeoutMs),
    /** The longest pause between two reconnect attempts (the backoff doubles up to this). */
    reconnectMaxDelayMs: z
      .number()
      .int()
      .positive()
      .default(REDIS_STORE_DEFAULTS.reconnectMaxDelayMs),
    /**
     * Appends that arrive together go to Redis as one script call of at most this many
     * events: sent as soon as it is full, else at the end of the event-loop turn.
     */
    maxBatchEvents: z.number().int().positive().default(REDIS_STORE_DEFAULTS.maxBatchEvents),
    /**
     * A node alone on its prefix (no `--members`) holds the prefix's owner lease for this
     * many ms, renewed every third of it. Another node may take the prefix only once it
     * expired: after a kill -9 of the holder (the same node takes it back at once).
     */
    ownerLeaseMs: z
      .number()
      .int()
      .min(MIN_OWNER_LEASE_MS)
      .default(REDIS_STORE_DEFAULTS.ownerLeaseMs),
  })
  .strict()

/**
 * Every field of `RedisStoreInit`, with its limits and defaults; unknown fields are refused,
 * and so is an init with both or neither of `url` and `cluster`. Compose it with
 * `.safeExtend()` (which keeps these checks).
 */
export const redisStoreInitSchema = redisStoreFieldsSchema.superRefine((init, context) => {
  if ((init.url === undefined) === (init.cluster === undefined))
    context.addIssue({
      code: 'custom',
      path: init.url === undefined ? ['url'] : ['cluster'],
      message:
        'give exactly one of url (one Redis) and cluster (the URLs of a Redis Cluster), not ' +
        (init.url === undefined ? 'neither' : 'both'),
    })
  if (init.cluster) {
    // The prefix becomes the hash tag `{prefix}`: a brace in it would cut the tag short.
    if (/[{}]/.test(init.prefix))
      context.addIssue({
        code: 'custom',
        path: ['prefix'],
        message: "must not contain { or } on a Redis Cluster (the prefix is the keys' hash tag)",
      })
    const targets = init.cluster.map(clusterTarget)
    if (targets.some((target) => target === undefined))
      context.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: 'every entry must be redis[s]://[user:password@]host:port with a port and no db',
      })
    else if (new Set(targets.map((target) => target!.credentials)).size > 1)
      context.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: 'every entry must use the same scheme, user and password (one cluster, one login)',
      })
  }
})

/** What a user configures for the Redis store: `url` or `cluster`, and optional tuning knobs. */
export type RedisStoreInit = z.input<typeof redisStoreInitSchema>

/** A `RedisStoreInit` after parsing: every field with a default set. */
export type RedisStoreSettings = z.output<typeof redisStoreInitSchema>

/** Parses a `RedisStoreInit` once, at the boundary; throws `ConfigError` naming the field. */
export function parseRedisStoreInit(init: RedisStoreInit): RedisStoreSettings {
  return parseInit(redisStoreInitSchema, init, 'redis store')
}

/** One startup node of a cluster, as the client takes it. */
export interface ClusterTarget {
  host: string
  port: number
  tls: boolean
  username: string | undefined
  password: string | undefined
  /** scheme, user and password together: equal for every node of one cluster. */
  credentials: string
}

/** A cluster entry's host, port and login; undefined when it is not `redis[s]://host:port`. */
export function clusterTarget(url: string): ClusterTarget | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  const port = Number(parsed.port)
  if (!parsed.hostname || !Number.isInteger(port) || port < 1) return undefined
  if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search || parsed.hash)
    return undefined
  const tls = parsed.protocol === 'rediss:'
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined
  return {
    // URL keeps IPv6 hosts in brackets; the client wants the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls,
    username,
    password,
    credentials: JSON.stringify([parsed.protocol, username ?? '', password ?? '']),
  }
}
