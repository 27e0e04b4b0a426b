// The Redis store: the event store of a geo whose nodes share one Redis.
export { RedisEventStore, redisStore, type RedisStoreUse } from './redis-store.js'
export {
  parseRedisStoreInit,
  REDIS_STORE_DEFAULTS,
  redisStoreInitSchema,
  type RedisStoreInit,
  type RedisStoreSettings,
} from './options.js'
export { copyPrefix, type CopyPrefixInit, type RedisTarget } from './copy-prefix.js'
export {
  RedisMembership,
  type GeoMember,
  type MembershipChange,
  type MembershipSettings,
} from './membership.js'
export { takeGeoFabricKey } from './geo-key.js'
export { redisNoticeKeeper } from './geo-notices.js'
