// The actor runtime: what core/index.ts exports of it.
export { ActorRuntime } from './actor-runtime.js'
export type { ActorRef, ActorView } from './actor-ref.js'
export { Mailbox } from './mailbox.js'
export { RUNTIME_DEFAULTS, runtimeSettingsSchema } from './options.js'
export type { AskOptions, KeyedAskOptions, RuntimeComponents, RuntimeInit } from './options.js'
export {
  DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  KEYED_EVENT,
  MAX_IDEMPOTENCY_KEY_LENGTH,
} from './idempotency-ledger.js'
export {
  ActorTypeStats,
  Buckets,
  HANDLER_LATENCY_BUCKETS,
  LATENCY_SAMPLE_EVERY,
  RuntimeStats,
} from './runtime-stats.js'
