import type { AnyActorDefinition } from '../actor.js'
import type { Clock } from '../clock.js'
import type { EventStore } from '../event-store.js'
import type { HybridLogicalClock } from '../hlc.js'
import type { AbortOptions } from '../lifecycle.js'
import type { Logger } from '../logger.js'
import type { Taps } from '../taps.js'

/** What a user tunes about the runtime. */
export interface RuntimeInit {
  /** The actor types this node serves. */
  actors: readonly AnyActorDefinition[]
  /** Most actors held in memory; the least recently used idle ones are evicted past it. */
  maxActorsInMemory?: number
  /** An actor unused this long is evicted (it is rehydrated from the store on its next message). */
  idleEvictMs?: number
  /** Persist a snapshot of an actor after this many events since its last one. */
  snapshotEvery?: number
  /** Most messages waiting in one actor's mailbox; more are refused with OverloadedError. */
  mailboxCapacity?: number
  /** Default deadline of an ask. */
  askTimeoutMs?: number
  /** How long `stop()` waits for queued messages to finish. */
  stopTimeoutMs?: number
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
}

/** The value of every `RuntimeInit` setting the user leaves out. */
export const RUNTIME_DEFAULTS = {
  maxActorsInMemory: 100_000,
  idleEvictMs: 5 * 60_000,
  snapshotEvery: 256,
  mailboxCapacity: 10_000,
  askTimeoutMs: 30_000,
  stopTimeoutMs: 10_000,
} as const

/** The runtime's settings once the defaults are applied. */
export type RuntimeSettings = Required<Omit<RuntimeInit, 'actors'>>

/** Options of one ask or read. */
export interface AskOptions extends AbortOptions {
  /** Overrides the runtime's default ask deadline. */
  timeoutMs?: number
}
