import { z } from 'zod'
import type { AnyActorDefinition } from '../actor.js'
import type { Clock } from '../clock.js'
import type { EventStore } from '../event-store.js'
import { DEFAULT_MAX_CLOCK_SKEW_MS, type HybridLogicalClock } from '../hlc.js'
import type { AbortOptions } from '../lifecycle.js'
import type { Logger } from '../logger.js'
import type { ActorPlacement } from '../placement/placement.js'
import type { Taps } from '../taps.js'
import {
  DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
} from './idempotency-ledger.js'
import type { RuntimeStats } from './runtime-stats.js'

/** The value of every runtime setting the user leaves out. */
export const RUNTIME_DEFAULTS = {
  maxActorsInMemory: 100_000,
  idleEvictMs: 5 * 60_000,
  snapshotEvery: 256,
  mailboxCapacity: 10_000,
  askTimeoutMs: 30_000,
  stopTimeoutMs: 10_000,
  maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
  idempotencyRetentionMs: DEFAULT_IDEMPOTENCY_RETENTION_MS,
  idempotencyKeysPerActor: DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR,
} as const

const positiveInt = z.number().int().positive()

/** The runtime's settings (`runtime` in the node config), with their defaults. */
export const runtimeSettingsSchema = z
  .object({
    /** Most actors held in memory; the least recently used idle ones are evicted past it. */
    maxActorsInMemory: positiveInt.default(RUNTIME_DEFAULTS.maxActorsInMemory),
    /** An actor unused this long is evicted (it is rehydrated from the store on its next message). */
    idleEvictMs: positiveInt.default(RUNTIME_DEFAULTS.idleEvictMs),
    /** Persist a snapshot of an actor after this many events since its last one. */
    snapshotEvery: positiveInt.default(RUNTIME_DEFAULTS.snapshotEvery),
    /** Most messages waiting in one actor's mailbox; more are refused with OverloadedError. */
    mailboxCapacity: positiveInt.default(RUNTIME_DEFAULTS.mailboxCapacity),
    /** Default deadline of an ask. */
    askTimeoutMs: positiveInt.default(RUNTIME_DEFAULTS.askTimeoutMs),
    /** How long `stop()` waits for queued messages to finish. */
    stopTimeoutMs: positiveInt.default(RUNTIME_DEFAULTS.stopTimeoutMs),
    /**
     * How far ahead of this node's wall clock a replicated stamp may be: further ones are
     * not merged into the HLC, and their events wait until the clock catches up.
     */
    maxClockSkewMs: positiveInt.default(RUNTIME_DEFAULTS.maxClockSkewMs),
    /**
     * How long an idempotency key is remembered, between the stamps of the first run's
     * `$keyed` event and a retry. Give every geo the same value: the fold uses it.
     */
    idempotencyRetentionMs: positiveInt.default(RUNTIME_DEFAULTS.idempotencyRetentionMs),
    /**
     * Most idempotency keys one actor remembers (its oldest are forgotten first). Give every
     * geo the same value: the fold uses it.
     */
    idempotencyKeysPerActor: positiveInt.default(RUNTIME_DEFAULTS.idempotencyKeysPerActor),
  })
  .strict()

/** What a user tunes about the runtime: its actor types and any of its settings. */
export interface RuntimeInit extends z.input<typeof runtimeSettingsSchema> {
  /** The actor types this node serves. */
  actors: readonly AnyActorDefinition[]
  /**
   * A sentence added to the error for a type this node does not serve (the node names the
   * setting that would serve it), or undefined.
   */
  unknownActorHint?: (type: string) => string | undefined
}

/** What the node injects. */
export interface RuntimeComponents {
  store: EventStore
  clock: Clock
  hlc: HybridLogicalClock
  taps: Taps
  logger: Logger
  /** The origin of events written here (this node's id). */
  origin: string
  /** Counters for metrics, when the node keeps them (read by a scrape, never by the runtime). */
  stats?: RuntimeStats
  /** Present in a geo of several nodes: which node owns each actor, and how to reach it. */
  placement?: ActorPlacement
  /**
   * True when the store is shared by the nodes of a geo and the node follows it: every event
   * another node stores, and every replicated event this one ingests, reaches the replicas
   * through `observeStored` (once, in store order), not through `ingest`.
   */
  followsStore?: boolean
}

/** The runtime's settings once the defaults are applied. */
export type RuntimeSettings = z.output<typeof runtimeSettingsSchema>

/** Options of one ask or read. */
export interface AskOptions extends AbortOptions {
  /** Overrides the runtime's default ask deadline. */
  timeoutMs?: number
}

/** Options of an ask sent with an idempotency key. */
export interface KeyedAskOptions extends AskOptions {
  /** The key: the same key and command on this actor, in any geo, runs at most once. */
  idempotencyKey: string
}
