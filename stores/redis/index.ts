// The Redis store: the event store of a geo whose nodes share one Redis.
export {
  parseRedisStoreInit,
  REDIS_STORE_DEFAULTS,
  RedisEventStore,
  redisStore,
} from './redis-store.js'
export type { RedisStoreInit, RedisStoreSettings } from './redis-store.js'
