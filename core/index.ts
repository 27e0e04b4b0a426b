// The public surface of Anywhere's core: everything a deployment needs, no backend.
export { defineActor } from './actor.js'
export type {
  ActorContext,
  ActorDefinition,
  AnyActorDefinition,
  AppliedEvent,
  CommandDefinition,
  CommandInput,
  CommandName,
  CommandReply,
  EventSchemas,
  StateOf,
} from './actor.js'
export { systemClock, simulatedClock } from './clock.js'
export type { Clock, SimulatedClock } from './clock.js'
export * from './errors.js'
export {
  actorAddress,
  assertStorablePayload,
  MAX_EVENT_PAYLOAD_BYTES,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
  MAX_PAYLOAD_DEPTH,
  compareEventKeys,
  compareOriginSeq,
  eventKey,
  eventRecordSchema,
  eventSigSchema,
  geoOfOrigin,
  hlcSchema,
  MAX_NAME_LENGTH,
} from './event.js'
export type { EventDraft, EventKey, EventRecord } from './event.js'
export {
  EVENT_SIG_BYTES,
  MAX_SIGNED_CHUNK_EVENTS,
  originPeerId,
  sealDigest,
  signedOrigin,
} from './event-seal.js'
export type { EventSig } from './event-seal.js'
export type { DurableEvents, EventFeed } from './event-feed.js'
export type {
  AppendOptions,
  EventLog,
  EventStore,
  EventStoreComponents,
  EventStoreFactory,
  EventFollower,
  EventFollowing,
  ReadActorOptions,
  RoleLease,
  Snapshot,
  SnapshotStore,
} from './event-store.js'
export { gaplessIngest } from './ingest-gaps.js'
export type { GaplessIngest } from './ingest-gaps.js'
export {
  compareHlc,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HybridLogicalClock,
  MAX_HLC_DRIFT_MS,
} from './hlc.js'
export type { Hlc, HybridLogicalClockOptions } from './hlc.js'
export type { AbortOptions, Startable } from './lifecycle.js'
export { LOG_LEVELS, silentLogger, streamLogger, ThrottledWarning } from './logger.js'
export type { LogFields, Logger, LogLevel } from './logger.js'
export {
  ActorRuntime,
  ActorTypeStats,
  Buckets,
  DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  HANDLER_LATENCY_BUCKETS,
  KEYED_EVENT,
  LATENCY_SAMPLE_EVERY,
  Mailbox,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  RUNTIME_DEFAULTS,
  RuntimeStats,
  runtimeSettingsSchema,
} from './runtime/index.js'
export type {
  ActorRef,
  ActorView,
  AskOptions,
  KeyedAskOptions,
  RuntimeComponents,
  RuntimeInit,
} from './runtime/index.js'
export { LOAD_SIGNALS, UNREADY_REASONS } from './readiness.js'
export type {
  LoadReport,
  LoadSample,
  LoadSignal,
  Readiness,
  ReadinessState,
  UnreadyReason,
} from './readiness.js'
export { MAX_TAP_CONCURRENT, Taps, tapConcernsActor } from './taps.js'
export type { ConcurrentEvent, RouteReason, TapActor, TapEvent, TapKind, TapOf } from './taps.js'
export { countMissing, dominates, mergeVectors, missingRanges } from './version-vector.js'
export type { SeqRange, VersionVector } from './version-vector.js'
export type {
  EventIngest,
  Fabric,
  FabricComponents,
  FabricFactory,
  NoticeKeeper,
  FabricStatus,
  PeerTraffic,
  ForwardedRequest,
  ForwardedResponse,
  GeoAdvert,
  PeerStatus,
} from './fabric.js'
export type {
  ActorFencing,
  ActorPlacement,
  RemoteActors,
  RemoteAsk,
  RemoteReply,
} from './placement/index.js'
export { memberSeed, rendezvousOwner } from './placement/index.js'
