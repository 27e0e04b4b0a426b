// What the edge changes in the requests and answers it passes on (hop-by-hop headers dropped,
// `x-forwarded-*` added), and how it reads a failed dispatch's error code.
import type { FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'undici/types/header.js'

/** Headers of one hop only: never forwarded in either direction (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
])

/** Error codes that mean the geo never received the request: safe to send it elsewhere, whatever it is. */
export const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
])

/** A JSON or text answer (UTF-8, as the gateway writes them). */
export function isText(contentType: string | string[] | undefined): boolean {
  return (
    typeof contentType === 'string' &&
    (contentType.startsWith('application/json') || contentType.startsWith('text/')) &&
    !contentType.startsWith('text/event-stream')
  )
}

/** True for an address of this machine (127.0.0.0/8, ::1, and IPv4 mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

/** The request's headers for the geo: hop-by-hop ones dropped, `x-forwarded-*` added. */
export function forwardedHeaders(request: FastifyRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(request.headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  const prior = request.headers['x-forwarded-for']
  const client = request.socket.remoteAddress ?? request.ip
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client
  if (request.headers.host) out['x-forwarded-host'] = request.headers.host
  out['x-forwarded-proto'] = 'http'
  // The edge sheds for an overloaded geo itself: the geo does not shed again what came through it.
  out['anywhere-edge'] = '1'
  return out
}

/** A geo's response headers for the client: hop-by-hop ones dropped. */
export function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  return out
}

/** The code of a failed dispatch: a never-sent code anywhere in its causes, else its own. */
export function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string') {
      if (NEVER_SENT.has(code)) return code
      if (depth === 0 && code !== 'UND_ERR_SOCKET') return code
    }
  }
  return undefined
}
