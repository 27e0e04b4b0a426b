// Who may call the gateway: bearer tokens stored as sha256 digests, or a user's authorize function.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { z } from 'zod'
import { ForbiddenError, UnauthorizedError, type Logger } from '../../core/index.js'

/** The scopes a token can hold; each implies the ones before it (`admin` ⊃ `write` ⊃ `read`). */
export const AUTH_SCOPES = ['read', 'write', 'admin'] as const
export type AuthScope = (typeof AUTH_SCOPES)[number]
/** What a route needs: a scope, or `open` (health checks answer everyone). */
export type RouteAccess = AuthScope | 'open'

/**
 * The scope each route needs when auth is on, by method and route pattern (HEAD as GET).
 * Any route not listed, and any unknown path, needs `admin`: a route added later is closed
 * until it is listed here.
 */
export const ROUTE_ACCESS: ReadonlyMap<string, RouteAccess> = new Map<string, RouteAccess>([
  ['GET /healthz', 'open'],
  ['GET /readyz', 'open'],
  ['GET /v1/actors', 'read'],
  ['GET /v1/openapi.json', 'read'],
  ['GET /v1/actors/:type/:id', 'read'],
  ['GET /v1/actors/:type/:id/history', 'read'],
  ['POST /v1/actors/:type/:id/:command', 'write'],
  ['GET /v1/fabric', 'admin'],
  ['GET /v1/geo', 'read'],
  ['GET /v1/taps', 'admin'],
  ['GET /metrics', 'admin'],
  // The page holds no data: what it shows comes from the routes it calls, each with its scope.
  ['GET /dashboard', 'open'],
  ['GET /v1/dashboard/stream', 'admin'],
])

/** The scope `request` needs. */
export function accessOf(request: FastifyRequest): RouteAccess {
  const method = request.method === 'HEAD' ? 'GET' : request.method
  const route = request.routeOptions.url
  return (route !== undefined && ROUTE_ACCESS.get(`${method} ${route}`)) || 'admin'
}

/** Longest token accepted: a longer `Authorization` header is refused before it is hashed. */
export const MAX_TOKEN_LENGTH = 512
/** Most tokens one gateway holds: each request compares its digest with every one of them. */
export const MAX_AUTH_TOKENS = 1_000
/** How long an authorize function may take before the request is refused. */
export const DEFAULT_AUTHORIZE_TIMEOUT_MS = 5_000
/** Longest token or principal name. */
export const MAX_PRINCIPAL_LENGTH = 200

/** `Bearer <b64token>` (RFC 6750 §2.1), the scheme in any case. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
/** The value of `WWW-Authenticate` on every 401. */
export const WWW_AUTHENTICATE = 'Bearer realm="anywhere"'

const scopesSchema = z.array(z.enum(AUTH_SCOPES)).max(AUTH_SCOPES.length)

/** What a request carries, as an authorize function sees it. */
export interface AuthRequest {
  readonly method: string
  /** The path and query, as sent. */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  /** The bearer token, when the request sent a well-formed one. */
  readonly token?: string
}

/** Who a request comes from and what it may do. */
export interface AuthGrant {
  readonly principal: string
  readonly scopes: readonly AuthScope[]
}

/**
 * A user's decision, for tokens the gateway does not hold itself (or no token at all):
 * a grant, or `undefined` to refuse. A throw or an invalid grant refuses the request too.
 */
export type Authorize = (
  request: AuthRequest,
) => AuthGrant | undefined | Promise<AuthGrant | undefined>

const grantSchema = z.object({
  principal: z.string().min(1).max(MAX_PRINCIPAL_LENGTH),
  scopes: scopesSchema,
})

/** One token the gateway accepts, stored as the sha256 of the token: never the token itself. */
export const authTokenSchema = z
  .object({
    name: z.string().min(1).max(MAX_PRINCIPAL_LENGTH),
    sha256: z
      .string()
      .regex(
        /^[0-9a-f]{64}$/,
        "must be the token's sha256 as 64 lower-case hex digits (anywhere-node token hash)",
      ),
    scopes: scopesSchema.min(1),
    token: z
      .never({
        error:
          'a plaintext token is refused: store its sha256 in `sha256` instead (anywhere-node token hash)',
      })
      .optional(),
  })
  .strict()

/** `http.auth` in the node config: tokens (JSON or module), an authorize function (module only), or both. */
export const authInitSchema = z
  .object({
    tokens: z.array(authTokenSchema).max(MAX_AUTH_TOKENS).default([]),
    authorize: z
      .custom<Authorize>(
        (value) => typeof value === 'function',
        'must be a function (request) => { principal, scopes } | undefined; only a config module can carry one',
      )
      .optional(),
    /** Past this, a pending authorize answer refuses the request (401, logged): it never lets it through. */
    authorizeTimeoutMs: z.number().int().positive().default(DEFAULT_AUTHORIZE_TIMEOUT_MS),
  })
  .strict()
  .refine((auth) => auth.tokens.length > 0 || auth.authorize !== undefined, {
    error: 'auth needs `tokens` or an `authorize` function: with neither, every request is refused',
  })

export type AuthInit = z.input<typeof authInitSchema>
export type AuthOptions = z.output<typeof authInitSchema>

const RANK: Readonly<Record<AuthScope, number>> = { read: 1, write: 2, admin: 3 }

/** The highest of `scopes` (0 for none): a grant covers every scope up to it. */
function rankOf(scopes: readonly AuthScope[]): number {
  let rank = 0
  for (const scope of scopes) rank = Math.max(rank, RANK[scope])
  return rank
}

/** The sha256 of a token, as the config stores it (hex). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Whether `token` could be sent as a bearer token (and so is worth hashing into a config). */
export function isWellFormedToken(token: string): boolean {
  return token.length > 0 && token.length <= MAX_TOKEN_LENGTH && TOKEN.test(token)
}

type Done = HookHandlerDoneFunction

/**
 * The gateway's one auth hook (`onRequest`, before any body is read): finds the scope the
 * route needs, the caller's grant (a held token first, then the authorize function), and
 * refuses with 401 (no valid credentials) or 403 (valid, but short of the scope).
 */
export function authHook(
  auth: AuthOptions,
  logger: Logger,
): (request: FastifyRequest, reply: FastifyReply, done: Done) => void {
  const held = auth.tokens.map((t) => ({
    name: t.name,
    digest: Buffer.from(t.sha256, 'hex'),
    rank: rankOf(t.scopes),
  }))
  const { authorize } = auth

  return (request, _reply, done) => {
    const access = accessOf(request)
    if (access === 'open') return done()
    const header = request.headers.authorization
    let token: string | undefined
    if (header !== undefined) {
      // Bounded before the regex and the hash: a huge header costs one length check.
      const match = header.length <= MAX_TOKEN_LENGTH + 16 ? BEARER.exec(header) : null
      if (!match || match[1]!.length > MAX_TOKEN_LENGTH)
        return done(
          new UnauthorizedError(
            `the Authorization header must be 'Bearer <token>' with a token of at most ${MAX_TOKEN_LENGTH} characters`,
          ),
        )
      token = match[1]!
      const digest = createHash('sha256').update(token, 'utf8').digest()
      let found: (typeof held)[number] | undefined
      // Every held digest is compared, in constant time each, whichever matches.
      for (const entry of held) if (timingSafeEqual(digest, entry.digest)) found ??= entry
      if (found) return done(check({ principal: found.name, rank: found.rank }, access, request))
    }
    if (!authorize)
      return done(
        new UnauthorizedError(
          token === undefined
            ? 'this gateway requires a token: send Authorization: Bearer <token>'
            : 'the bearer token is not valid here',
        ),
      )
    const failClosed = (error: unknown) => {
      logger.error('the authorize function failed: the request is refused', {
        error,
        method: request.method,
        url: request.url,
      })
      done(new UnauthorizedError('the request could not be authorized', { cause: error }))
    }
    const decide = (result: unknown) => {
      if (result === undefined)
        return done(
          new UnauthorizedError(
            token === undefined
              ? 'this gateway requires credentials: send Authorization: Bearer <token>'
              : 'the bearer token is not valid here',
          ),
        )
      let grant: ReturnType<typeof grantSchema.safeParse>
      try {
        grant = grantSchema.safeParse(result)
      } catch (error) {
        return failClosed(error) // a getter or a proxy in the grant threw
      }
      if (!grant.success)
        return failClosed(
          new TypeError(
            `authorize returned a ${typeof result} that is not { principal, scopes } or undefined: ${grant.error.issues[0]?.message ?? ''}`,
          ),
        )
      done(
        check(
          { principal: grant.data.principal, rank: rankOf(grant.data.scopes) },
          access,
          request,
        ),
      )
    }
    let result: ReturnType<Authorize>
    try {
      result = authorize({
        method: request.method,
        url: request.url,
        headers: request.headers,
        token,
      })
    } catch (error) {
      return failClosed(error)
    }
    if (!isThenable(result)) return decide(result)
    let settled = false
    const once =
      <T>(f: (value: T) => void) =>
      (value: T) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        f(value)
      }
    const timer = setTimeout(
      once(() =>
        failClosed(new Error(`authorize did not answer within ${auth.authorizeTimeoutMs} ms`)),
      ),
      auth.authorizeTimeoutMs,
    )
    result.then(once(decide), once(failClosed))
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

/** Who each authorized request is (only while the request lives). */
const principals = new WeakMap<FastifyRequest, string>()

/** The principal an auth hook admitted `request` as; undefined when the gateway has no auth. */
export function principalOf(request: FastifyRequest): string | undefined {
  return principals.get(request)
}

/** Undefined when the grant covers `access`, else the 403 to answer. */
function check(
  grant: { principal: string; rank: number },
  access: AuthScope,
  request: FastifyRequest,
): ForbiddenError | undefined {
  if (grant.rank >= RANK[access]) {
    principals.set(request, grant.principal)
    return undefined
  }
  return new ForbiddenError(
    `${grant.principal} may not ${request.method} ${request.url.split('?', 1)[0]}: it needs the '${access}' scope`,
  )
}

/** Whether a gateway bound to `host` can be reached only from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/**
 * The warning a node logs at start when its gateway answers everyone (no auth) on an address
 * other machines can reach; undefined when it is closed or bound to loopback only.
 */
export function openGatewayWarning(
  options: { host: string; auth?: unknown },
  url: string,
): string | undefined {
  if (options.auth !== undefined || isLoopbackHost(options.host)) return undefined
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return `the gateway at http://${host}:${new URL(url).port} accepts writes from anyone: configure http.auth`
}
