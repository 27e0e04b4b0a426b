import type { EventDraft, EventKey, EventRecord } from './event.js'
import type { AbortOptions, Startable } from './lifecycle.js'
import type { Logger } from './logger.js'
import type { Taps } from './taps.js'
import type { Clock } from './clock.js'
import type { VersionVector } from './version-vector.js'

/** The log of events: the part of a store that replication and the runtime read and write. */
export interface EventLog {
  /**
   * Gives each draft the next `seq` of its origin and makes them durable; resolves only
   * once they are (persist before reply). Returns the stored records in draft order.
   */
  append(drafts: readonly EventDraft[], options?: AppendOptions): Promise<EventRecord[]>
  /**
   * Stores replicated events. An event already held is ignored (idempotent); an event
   * that would leave a gap in its origin's seqs is not stored. Returns the events newly stored.
   */
  ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]>
  /** The events of one actor in merge order, only those after `after` when given. */
  readActor(actorType: string, actorId: string, options?: ReadActorOptions): Promise<EventRecord[]>
  /** Up to `limit` events of one origin from `fromSeq` on, in seq order. */
  readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]>
  /** For each origin, the highest seq held with no gap below it. */
  versionVector(options?: AbortOptions): Promise<VersionVector>
}

/** Options of one append (its drafts are one actor's, as the runtime writes them). */
export interface AppendOptions extends AbortOptions {
  /**
   * The fencing epoch under which this node holds the actor (a geo of several nodes): a store
   * shared by the nodes refuses the append with FencedError once another node has claimed
   * the actor since. Stores of one node ignore it.
   */
  fence?: number
}

export interface ReadActorOptions extends AbortOptions {
  /** Only events that sort after this key. */
  after?: EventKey
}

/** A folded actor state and the last event it covers. */
export interface Snapshot {
  readonly actorType: string
  readonly actorId: string
  readonly state: unknown
  /** The key of the last event folded into `state`. */
  readonly at: EventKey
  /** How many events were folded into `state`. */
  readonly eventCount: number
  /** The idempotency keys those events record (bytes only the runtime reads), when any. */
  readonly ledger?: Uint8Array
}

/**
 * Persisted actor snapshots. A loaded snapshot plus the events after its `at` is always
 * the actor's complete history, because a store (1) drops an actor's snapshot when it
 * ingests an event of that actor that sorts before the snapshot's `at`, and (2) ignores a
 * snapshot whose `eventCount` differs from the number of the actor's stored events up to
 * its `at` (it was folded before an event that has since arrived).
 */
export interface SnapshotStore {
  /** Replaces the actor's snapshot. */
  saveSnapshot(snapshot: Snapshot, options?: AbortOptions): Promise<void>
  /** The actor's snapshot, if one is held and still valid. */
  loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined>
}

/** The store port: one interface, implemented by the memory, file and Redis stores. */
export interface EventStore extends EventLog, SnapshotStore, Startable {}

/** What the node injects into a store. */
export interface EventStoreComponents {
  clock: Clock
  logger: Logger
  taps: Taps
  /** This node's id (its origin for local writes). */
  nodeId: string
}

/** How backends are wired: `fileStore(init)` returns this, the node calls it with its components. */
export type EventStoreFactory = (components: EventStoreComponents) => EventStore

/**
 * A store that the nodes of a geo share (the Redis store) can be followed: a node learns of
 * the events the others store (their appends, and replicated events one of them ingested).
 */
export interface EventFollowing {
  /** A reader of stored events on a connection of its own (it waits there while none is new). */
  followEvents(): EventFollower
}

/**
 * A reader of what a shared store's writers store: where its record of writes is, what was
 * written since, and the events themselves. The record is bounded (old writes are dropped),
 * and a store may lose it (restarted without its data): `check` says when either happened.
 */
export interface EventFollower {
  /** Where the store's record of writes ends now: `changes` from here returns later writes. */
  position(): Promise<string>
  /**
   * The origins written after `from`, with the highest seq each holds, and the position after
   * those writes; waits up to `waitMs` while there are none (then `written` is empty). An
   * entry of the record that cannot be read is passed over (and logged). `intact` is false
   * when writes after `from` may have been dropped from the record before it was read (a
   * follower that lagged behind its trimming): `written` then lacks them, and the follower
   * compares the store's vector with what it has read.
   */
  changes(
    from: string,
    waitMs: number,
  ): Promise<{ position: string; written: VersionVector; intact?: boolean }>
  /**
   * Whether the record still holds every write after `from` (`intact`), and where it ends
   * now. Not intact: writes after `from` were dropped from it, or it went back (the store lost
   * data): the follower compares the store's vector with what it has read.
   */
  check(from: string): Promise<{ intact: boolean; position: string }>
  /**
   * Events of every origin `after` names with a seq above its entry, at most about `limit`
   * in all, in seq order per origin; never waits. An origin with nothing past its entry has
   * no event in the answer.
   */
  read(after: Readonly<VersionVector>, limit: number): Promise<EventRecord[]>
  /** Closes its connection; a call under way fails. */
  close(): Promise<void>
}

/**
 * A lease through the store: one holder at a time of a named role of the geo (the node that
 * replicates for a geo of several nodes). A holder keeps it by renewing within `ttlMs`.
 */
export interface RoleLease {
  /** Takes or renews the lease of `role` for `holder` for `ttlMs`; false while another holds it. */
  holdLease(role: string, holder: string, ttlMs: number, options?: AbortOptions): Promise<boolean>
  /** Gives the lease of `role` up, if `holder` holds it. */
  releaseLease(role: string, holder: string, options?: AbortOptions): Promise<void>
}
