import { z } from 'zod'
import { MAX_NAME_LENGTH, MAX_PAYLOAD_DEPTH } from '../../core/index.js'
import { authInitSchema } from './auth.js'

/** Largest request body accepted, unless configured otherwise. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024
/** How long `stop()` lets in-flight requests run before it closes their connections. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000
/** How long a client has to send a whole request (headers and body): a slow drip is cut off. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** Deepest JSON body accepted: a command's input may become an event payload, which core bounds. */
export const DEFAULT_MAX_JSON_DEPTH = MAX_PAYLOAD_DEPTH
/** Longest path parameter in its percent-encoded form: every character of a name may take 3 bytes. */
export const MAX_ENCODED_PARAM_LENGTH = MAX_NAME_LENGTH * 3
/** Longest `Idempotency-Key` header accepted. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 256

/** What a user configures about a node's HTTP gateway (`http` in the node config). */
export const gatewayInitSchema = z
  .object({
    /**
     * `false`: the node runs no HTTP server of its own (mount `anywhereRoutes` into your own
     * Fastify app, or call the runtime in-process).
     */
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    /** `0` picks a free port. */
    port: z.number().int().min(0).max(65535).default(8080),
    bodyLimitBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT_BYTES),
    /** Deepest nesting of a JSON body; deeper bodies get a 400 before they are parsed. */
    maxJsonDepth: z
      .number()
      .int()
      .min(1)
      .max(DEFAULT_MAX_JSON_DEPTH)
      .default(DEFAULT_MAX_JSON_DEPTH),
    /** How long a client may take to send a whole request; past it the answer is 408. */
    requestTimeoutMs: z.number().int().min(100).default(DEFAULT_REQUEST_TIMEOUT_MS),
    /** How long `stop()` waits for in-flight requests. */
    stopTimeoutMs: z.number().int().positive().default(DEFAULT_STOP_TIMEOUT_MS),
    /**
     * The base URLs clients and edges reach this gateway at (behind a load balancer or NAT),
     * advertised to the other geos; defaults to the address it listens on.
     */
    publicUrls: z
      .array(z.url({ protocol: /^https?$/ }).max(256))
      .max(4)
      .optional(),
    /** Who may call: without it the gateway answers everyone (keep it on 127.0.0.1 then). */
    auth: authInitSchema.optional(),
  })
  .strict()

/** The gateway's init as a user writes it: every field is optional. */
export type GatewayInit = z.input<typeof gatewayInitSchema>
/** The gateway's init with every default filled in. */
export type GatewayOptions = z.output<typeof gatewayInitSchema>
