// What a user configures about the libp2p fabric: the schema its init is parsed with, once.
import { z } from 'zod'
import { parseInit } from '../../support/options.js'
import { MAX_EVENTS_PER_FRAME, MAX_NOTICE_LIVE } from './frames.js'

/** How a link dials and redials its peer. */
export interface LinkSettings {
  /** Deadline of one dial plus opening the stream. */
  dialTimeoutMs: number
  /** First redial delay; doubles per failure up to `backoffMaxMs`, with jitter. */
  backoffBaseMs: number
  backoffMaxMs: number
  /** Uniform in [0, 1): the jitter source (injected so tests can pin it). */
  random: () => number
}

/** Replication tuning; defaults in `LIBP2P_FABRIC_DEFAULTS`. */
export interface ReplicationSettings {
  /** Events per `events` frame during catch-up. */
  eventsPerFrame: number
  /**
   * Most frame bytes sent and not yet acknowledged: the cap of the sender's window. The
   * window itself adapts: it grows while acks come back within `ackLatencyTargetMs` and
   * halves when they take more than twice that, so a slow receiver never has seconds of
   * data queued ahead of the pings and acks that share the connection.
   */
  maxUnackedBytes: number
  /** Ack latency the sender's window aims for. */
  ackLatencyTargetMs: number
  /** Most events held per sender for live push; past it, the sender reads the store. */
  liveQueueEvents: number
  /** Most events a receiver passes to one ingest call. */
  ingestBatchEvents: number
  /**
   * While the sender says more is coming, a receiver gathers up to this many bytes (or
   * `ingestBatchEvents`) for one ingest call: fewer, larger ingests mean fewer re-folds of
   * the actors they touch. Keep it under the sender's window.
   */
  ingestBatchBytes: number
  /** Longest a receiver waits for more frames before it ingests what it has. */
  ingestLingerMs: number
  /**
   * Bytes a receiver queues (received, not yet ingested) and still acknowledges as
   * received; past it, receipts wait for the ingest to catch up, and the sender's window
   * stops it.
   */
  receiveBufferBytes: number
  /** Bytes a receiver queues before it treats the sender as ignoring the window. */
  maxQueuedBytes: number
  /**
   * Fewest ms between two acks of a receiver (a ping's answer excepted): acks are cumulative,
   * so under load one ack covers many frames.
   */
  ackIntervalMs: number
  /**
   * Another origin's events go to a peer only once this geo has held them this long: a peer
   * that also links to their origin has them by then and says so in its acks (one ping is
   * `heartbeatMs`), so a full mesh does not carry every event twice over each pair of
   * relays. A peer that lacks them (its link to the origin is down) gets them then. 0
   * relays at once.
   */
  relayDelayMs: number
  /** How often the sender pings (and learns the receiver's vector: anti-entropy). */
  heartbeatMs: number
  /** A session that hears nothing for this long is closed (the peer froze or vanished). */
  silenceTimeoutMs: number
  /** Deadline of the hello exchange. */
  handshakeTimeoutMs: number
  /**
   * Most origins of one key, neither live nor retired in that key's newest retirement
   * notice, that events are taken under: past it, events of a new origin of that key are
   * refused, so an allowlisted peer cannot grow this geo's state by inventing log ids.
   */
  maxLiveOriginsPerKey: number
}

/** Tuning of the fabric; see `LIBP2P_FABRIC_DEFAULTS`. */
export interface FabricTuning extends ReplicationSettings, Omit<LinkSettings, 'random'> {
  /** How often the connection monitor pings each connection (a frozen peer is found within about this plus `pingTimeoutMs`). */
  pingIntervalMs: number
  /** Ping deadline before the connection is aborted. */
  pingTimeoutMs: number
  /** How often the store's vector is re-read (events that reached it by other paths, lag markers pruned). */
  refreshMs: number
  /** Inbound connections accepted per second per remote IP (libp2p's default of 5 resets fast redials, trap 5). */
  inboundConnectionThreshold: number
  /**
   * Live push: events that become durable within the wait of the last batch offered to the
   * senders wait for the next batch (one frame, one signature and one encoding for many
   * writes under load). This is the longest wait, from `liveCoalesceFullRate` on; after a
   * quiet spell events go at once. 0 sends every group commit on its own.
   */
  liveCoalesceMs: number
  /**
   * Events per second (new to this geo, over the last 100 ms) at and above which a batch
   * waits the whole `liveCoalesceMs`; below it the wait shrinks in proportion, and under
   * 1 ms it is none: batches grow with the load, and a quiet geo adds no latency.
   */
  liveCoalesceFullRate: number
}

/** The defaults of every tuning field. */
export const LIBP2P_FABRIC_DEFAULTS: Readonly<FabricTuning> = Object.freeze({
  eventsPerFrame: 256,
  maxUnackedBytes: 8 * 1024 * 1024,
  ackLatencyTargetMs: 1_000,
  liveQueueEvents: 8_192,
  ingestBatchEvents: 65_536,
  ingestBatchBytes: 8 * 1024 * 1024,
  ingestLingerMs: 200,
  receiveBufferBytes: 16 * 1024 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
  ackIntervalMs: 50,
  relayDelayMs: 1_500,
  heartbeatMs: 1_000,
  silenceTimeoutMs: 6_000,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 5_000,
  backoffBaseMs: 200,
  backoffMaxMs: 5_000,
  pingIntervalMs: 1_000,
  pingTimeoutMs: 3_000,
  refreshMs: 2_000,
  inboundConnectionThreshold: 1_000,
  liveCoalesceMs: 10,
  liveCoalesceFullRate: 2_000,
  maxLiveOriginsPerKey: 64,
})

const D = LIBP2P_FABRIC_DEFAULTS
const positiveInt = z.number().int().positive()

/** Every tuning field: optional, a positive integer (`liveCoalesceMs` and `relayDelayMs` may be 0), defaulting to `LIBP2P_FABRIC_DEFAULTS`. */
const tuningShape = {
  // A receiver rejects a larger frame.
  eventsPerFrame: positiveInt.max(MAX_EVENTS_PER_FRAME).default(D.eventsPerFrame),
  maxUnackedBytes: positiveInt.default(D.maxUnackedBytes),
  ackLatencyTargetMs: positiveInt.default(D.ackLatencyTargetMs),
  liveQueueEvents: positiveInt.default(D.liveQueueEvents),
  ingestBatchEvents: positiveInt.default(D.ingestBatchEvents),
  ingestBatchBytes: positiveInt.default(D.ingestBatchBytes),
  ingestLingerMs: positiveInt.default(D.ingestLingerMs),
  receiveBufferBytes: positiveInt.default(D.receiveBufferBytes),
  maxQueuedBytes: positiveInt.default(D.maxQueuedBytes),
  ackIntervalMs: positiveInt.default(D.ackIntervalMs),
  relayDelayMs: z.number().int().nonnegative().default(D.relayDelayMs),
  heartbeatMs: positiveInt.default(D.heartbeatMs),
  silenceTimeoutMs: positiveInt.default(D.silenceTimeoutMs),
  handshakeTimeoutMs: positiveInt.default(D.handshakeTimeoutMs),
  dialTimeoutMs: positiveInt.default(D.dialTimeoutMs),
  backoffBaseMs: positiveInt.default(D.backoffBaseMs),
  backoffMaxMs: positiveInt.default(D.backoffMaxMs),
  pingIntervalMs: positiveInt.default(D.pingIntervalMs),
  pingTimeoutMs: positiveInt.default(D.pingTimeoutMs),
  refreshMs: positiveInt.default(D.refreshMs),
  inboundConnectionThreshold: positiveInt.default(D.inboundConnectionThreshold),
  liveCoalesceMs: z.number().int().nonnegative().max(1_000).default(D.liveCoalesceMs),
  liveCoalesceFullRate: positiveInt.default(D.liveCoalesceFullRate),
  // A retirement notice names at most MAX_NOTICE_LIVE live origins.
  maxLiveOriginsPerKey: positiveInt.max(MAX_NOTICE_LIVE).default(D.maxLiveOriginsPerKey),
} satisfies Record<keyof FabricTuning, z.ZodType>

/** A multiaddr a node can listen on or dial. */
const multiaddrSchema = z
  .string()
  .regex(/^\/(ip4|ip6|dns4|dns6|dns)\//, 'must be a multiaddr such as /ip4/127.0.0.1/tcp/7400')

/** One allowlisted peer geo. */
export const fabricPeerInitSchema = z.object({
  /** The peer's geo name (learned from its hello when omitted). */
  geo: z.string().min(1).optional(),
  /** The peer's PeerId: only the holder of this key may connect as this peer. */
  peerId: z.string().min(1),
  /**
   * Where to dial it: multiaddrs, with or without the trailing `/p2p/<PeerId>`. May be
   * empty or omitted: a peer behind NAT dials us.
   */
  addrs: z.array(multiaddrSchema).default([]),
})

/** The libp2p fabric's init, parsed once by `libp2pFabric`; node config composes it. */
export const libp2pFabricInitSchema = z.object({
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/7400`. */
  listen: z.array(multiaddrSchema),
  /** The allowlist: every other PeerId is refused before any application frame. */
  peers: z.array(fabricPeerInitSchema).default([]),
  /** The identity key file; default `<dataDir>/peer-key`. */
  keyFile: z.string().min(1).optional(),
  /** A pre-shared key file (libp2p private network, `/key/swarm/psk/1.0.0/` format): peers without it cannot connect at all. */
  psk: z.string().min(1).optional(),
  /** Jitter source, uniform in [0, 1) (default `Math.random`). */
  random: z.custom<() => number>((v) => typeof v === 'function').optional(),
  ...tuningShape,
})

/** One allowlisted peer geo, as a user configures it. */
export type FabricPeerInit = z.input<typeof fabricPeerInitSchema>

/** What a user configures about the fabric; every tuning field is optional. */
export type Libp2pFabricInit = z.input<typeof libp2pFabricInitSchema>

/** The fabric's init once parsed: every default applied. */
export type Libp2pFabricOptions = z.output<typeof libp2pFabricInitSchema>

/** Parses the fabric's init; an invalid one throws `ConfigError` naming each bad field. */
export function parseLibp2pFabricInit(init: Libp2pFabricInit): Libp2pFabricOptions {
  return parseInit(libp2pFabricInitSchema, init, 'fabric')
}
