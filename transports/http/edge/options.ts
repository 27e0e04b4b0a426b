import { z } from 'zod'
import { DEFAULT_BODY_LIMIT_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from '../options.js'

/** The value of every edge setting the user leaves out. */
export const EDGE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  probeIntervalMs: 250,
  probeTimeoutMs: 1_000,
  upAfterProbes: 3,
  rttWindow: 8,
  discoverEveryMs: 2_000,
  connectionsPerGeo: 64,
  maxPendingPerGeo: 1_024,
  upstreamTimeoutMs: 30_000,
  shedGain: 0.5,
  maxShedShare: 0.9,
} as const

/** Most geos one edge knows. */
export const MAX_EDGE_GEOS = 64

const D = EDGE_DEFAULTS
const positiveInt = z.number().int().positive()
const httpUrl = z.url({ protocol: /^https?$/ }).max(256)

/** One geo the edge is told about: its gateway's base URL (its name is learned from `/readyz`). */
export const edgeGeoInitSchema = z
  .object({
    url: httpUrl,
    /** Overrides the name learned from the geo's `/readyz`. */
    name: z.string().min(1).max(64).optional(),
  })
  .strict()

/**
 * The edge's init (`anywhere-node edge`): where it listens, the geos it knows (and the geos it
 * asks for the others), how it probes them, and the bounds of what it holds for clients.
 */
export const edgeInitSchema = z
  .object({
    host: z.string().min(1).default(D.host),
    /** `0` picks a free port. */
    port: z.number().int().min(0).max(65535).default(D.port),
    /** The geos, by URL. */
    geos: z.array(edgeGeoInitSchema).max(MAX_EDGE_GEOS).default([]),
    /**
     * Geos asked (`GET /v1/fabric`) for the other geos' advertised URLs, at start and every
     * `discoverEveryMs`; they are probed too.
     */
    discover: z.array(httpUrl).max(MAX_EDGE_GEOS).default([]),
    discoverEveryMs: positiveInt.default(D.discoverEveryMs),
    /** How often each geo's `/readyz` is probed (the probe's round trip is its RTT sample). */
    probeIntervalMs: positiveInt.min(10).default(D.probeIntervalMs),
    /** A probe not answered within this marks the geo down. */
    probeTimeoutMs: positiveInt.default(D.probeTimeoutMs),
    /** Ready probes in a row before a geo that was down gets traffic again (hysteresis). */
    upAfterProbes: positiveInt.max(100).default(D.upAfterProbes),
    /** A geo's distance is the lowest RTT of its last this many probes (robust to a busy moment). */
    rttWindow: positiveInt.max(1_000).default(D.rttWindow),
    /** Keep-alive connections to each geo. */
    connectionsPerGeo: positiveInt.max(10_000).default(D.connectionsPerGeo),
    /** Requests in flight to one geo at most; past it the edge answers 503 with Retry-After. */
    maxPendingPerGeo: positiveInt.default(D.maxPendingPerGeo),
    /** How long a geo may take to answer a request's headers (tap streams excepted). */
    upstreamTimeoutMs: positiveInt.default(D.upstreamTimeoutMs),
    /** Largest request body accepted (as the gateway's `bodyLimitBytes`). */
    bodyLimitBytes: positiveInt
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT_BYTES),
    /** How long a client may take to send a whole request; past it the answer is 408. */
    requestTimeoutMs: z.number().int().min(100).default(DEFAULT_REQUEST_TIMEOUT_MS),
    /**
     * How fast an overloaded geo's shed share grows per probe, per unit of its load over
     * the recovery point (see docs/routing.md).
     */
    shedGain: z.number().positive().max(10).default(D.shedGain),
    /**
     * Who may read `/edge/v1/status` and `/edge/v1/taps` (they name every geo's internal
     * URL): `loopback` (the default) answers only clients on this machine, `anyone` all.
     */
    statusAccess: z.enum(['loopback', 'anyone']).default('loopback'),
    /** The largest share of its requests an overloaded geo sheds. */
    maxShedShare: z.number().min(0).max(1).default(D.maxShedShare),
  })
  .strict()
  .refine((init) => init.geos.length + init.discover.length > 0, {
    message: 'give the edge at least one geo (geos) or a geo to ask for the others (discover)',
  })

/** The edge's init as a user writes it. */
export type EdgeInit = z.input<typeof edgeInitSchema>
/** The edge's init with every default filled in. */
export type EdgeOptions = z.output<typeof edgeInitSchema>
