// The actor runtime: what core/index.ts exports of it.
export { ActorRuntime } from './actor-runtime.js'
export type { ActorRef, ActorView } from './actor-ref.js'
export { Mailbox } from './mailbox.js'
export { RUNTIME_DEFAULTS, runtimeSettingsSchema } from './options.js'
export type { AskOptions, RuntimeComponents, RuntimeInit } from './options.js'
export {
  ActorTypeStats,
  Buckets,
  HANDLER_LATENCY_BUCKETS,
  LATENCY_SAMPLE_EVERY,
  RuntimeStats,
} from './runtime-stats.js'
