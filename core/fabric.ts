import type { Clock } from './clock.js'
import type { EventRecord } from './event.js'
import type { EventFeed } from './event-feed.js'
import type { Hlc } from './hlc.js'
import type { EventLog } from './event-store.js'
import type { AbortOptions, Startable } from './lifecycle.js'
import type { Logger } from './logger.js'
import type { Taps } from './taps.js'

/**
 * What a geo tells the others about itself, every heartbeat: where clients reach it and
 * whether it can take them now. Edges read it (from any geo's `GET /v1/fabric`) to learn
 * every geo; it is advisory, never trusted for anything but routing.
 */
export interface GeoAdvert {
  /** The geo's public HTTP base URLs (its gateway's `publicUrls`, or the address it listens on). */
  readonly urls: readonly string[]
  /** `GET /readyz` would answer 200. */
  readonly ready: boolean
  /** Why not ready (an `UnreadyReason`). */
  readonly reason?: string
  /** The highest load signal over its limit (1 or more: past a limit). */
  readonly load: number
}

/** One peer geo as the fabric sees it (`GET /v1/fabric`). */
export interface PeerStatus {
  readonly geo: string
  readonly peerId: string
  readonly connected: boolean
  /** Events this geo holds that the peer is not known to hold. */
  readonly lagEvents: number
  /** Age of the oldest event not yet acknowledged by the peer, in ms (0 when caught up). */
  readonly lagMs: number
  /** Last measured round trip, in ms. */
  readonly rttMs?: number
  /** When the current connection (or the current partition) began. */
  readonly since: number
  /** Why the last dial or handshake failed (e.g. a wrong PeerId), until a connection succeeds. */
  readonly lastError?: string
  /** What crossed the link since the fabric started (for metrics), when the fabric counts it. */
  readonly traffic?: PeerTraffic
  /** What the peer last advertised about itself, and when it arrived (this node's clock). */
  readonly advert?: GeoAdvert & { readonly receivedAt: number }
}

/** Totals of one link since the fabric started. */
export interface PeerTraffic {
  /** Events taken from the peer that were new here. */
  readonly eventsIn: number
  /** Events sent to the peer. */
  readonly eventsOut: number
  /** Replication frame bytes received from the peer. */
  readonly bytesIn: number
  /** Replication frame bytes sent to the peer. */
  readonly bytesOut: number
  /** Connections after the first one (each follows a lost link). */
  readonly reconnects: number
}

export interface FabricStatus {
  readonly peerId: string
  readonly listen: readonly string[]
  readonly peers: readonly PeerStatus[]
}

/**
 * An HTTP request one geo hands to another over the fabric (an overloaded geo shedding load):
 * only what the receiving gateway needs to serve it as its own.
 */
export interface ForwardedRequest {
  readonly method: 'GET' | 'HEAD' | 'POST'
  /** Path and query, e.g. `/v1/actors/counter/likes/increment`. */
  readonly path: string
  /** Lower-case names; only the ones that change how the request is served. */
  readonly headers: Readonly<Record<string, string>>
  readonly body?: Uint8Array
}

/** The receiving geo's answer to a `ForwardedRequest`. */
export interface ForwardedResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/** The inter-geo fabric: replicates this geo's events to the other geos and theirs here. */
export interface Fabric extends Startable {
  /** This node's fabric identity (its libp2p PeerId). */
  readonly peerId: string
  /** The addresses the fabric listens on (known after start). */
  listenAddresses(): string[]
  /** Connection and replication state per peer. */
  status(): FabricStatus
  /**
   * Sends an HTTP request to the peer `peerId` to serve (one hop: a peer never forwards it
   * again). Absent on fabrics that cannot forward.
   */
  forward?(
    peerId: string,
    request: ForwardedRequest,
    options?: AbortOptions,
  ): Promise<ForwardedResponse>
}

/** Where replicated events go in: store them and update the local replicas. */
export interface EventIngest {
  /** Stores replicated events and updates their actors; returns the ones new to this geo. */
  ingest(
    events: readonly EventRecord[],
    options?: AbortOptions & { from?: string },
  ): Promise<EventRecord[]>
  /**
   * Whether an event stamped `stamp` may be stored now: false when it is further ahead of
   * this geo's clock than the skew bound. The fabric holds such events back and takes them
   * again once the clock has caught up.
   */
  acceptsStamp(stamp: Hlc): boolean
}

/** What the node injects into the fabric. */
export interface FabricComponents {
  /** The app name: peers of another app are refused. */
  appName: string
  geo: string
  nodeId: string
  /** The node's data directory (identity key lives there unless configured elsewhere). */
  dataDir: string
  log: EventLog
  /** Where replicated events are stored and applied. */
  ingest: EventIngest
  /** Events as they become durable here (local appends and ingests): what live push sends. */
  feed: EventFeed
  /** For watching only: the fabric publishes its own steps here and never reads them back. */
  taps: Taps
  logger: Logger
  clock: Clock
  /** Serves a request another geo forwarded here; without it, forwarded requests are refused. */
  serveForwarded?: (request: ForwardedRequest) => Promise<ForwardedResponse>
  /** What this geo advertises to the others every heartbeat; without it, nothing is advertised. */
  advert?: () => GeoAdvert
  /**
   * Where the fabric keeps the retirement notices it holds; without it, in
   * `<dataDir>/retired-origins`. A geo of several nodes keeps them in its Redis, so a node
   * that takes over replication holds what the last one held.
   */
  notices?: NoticeKeeper
  /**
   * The origins of this node's key in use besides its own: in a geo of several nodes, its
   * members'. Every other origin of the key is retired (docs/fabric.md, "Retired origins").
   */
  liveOrigins?: () => readonly string[]
}

/**
 * Keeps retirement notices (each the signed bytes of one key's newest; docs/fabric.md,
 * "Retired origins"): the bytes are checked again when read back.
 */
export interface NoticeKeeper {
  /** Every notice kept, by the key (PeerId) it is of. */
  load(): Promise<ReadonlyArray<{ key: string; bytes: Uint8Array }>>
  /** Keeps `bytes` as the notice of `key`, in place of any before it. */
  keep(key: string, bytes: Uint8Array): Promise<void>
}

export type FabricFactory = (components: FabricComponents) => Fabric
