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
} as const

/** Longest key prefix accepted. */
export const MAX_PREFIX_LENGTH = 128

/** Every field of `RedisStoreInit`, with its limits and defaults; unknown fields are refused. */
export const redisStoreInitSchema = z
  .object({
    /** `redis://[user:password@]host:port[/db]` or `rediss://...` */
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
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
  })
  .strict()

/** What a user configures for the Redis store: `url`, and optional tuning knobs. */
export type RedisStoreInit = z.input<typeof redisStoreInitSchema>

/** A `RedisStoreInit` after parsing: every field set. */
export type RedisStoreSettings = z.output<typeof redisStoreInitSchema>

/** Parses a `RedisStoreInit` once, at the boundary; throws `ConfigError` naming the field. */
export function parseRedisStoreInit(init: RedisStoreInit): RedisStoreSettings {
  return parseInit(redisStoreInitSchema, init, 'redis store')
}
