// The HTTP gateway of a node.
export { Gateway, gateway } from './gateway.js'
export { anywhereRoutes, GatewayRoutes } from './routes.js'
export { statusForError } from './error-replies.js'
export { SSE_MAX_BUFFERED_BYTES } from './tap-stream.js'
export {
  AUTH_SCOPES,
  MAX_AUTH_TOKENS,
  MAX_TOKEN_LENGTH,
  ROUTE_ACCESS,
  authInitSchema,
  isWellFormedToken,
  openGatewayWarning,
  tokenDigest,
} from './auth.js'
export type { AuthGrant, AuthInit, AuthRequest, AuthScope, Authorize, RouteAccess } from './auth.js'
export type { GatewayComponents } from './routes.js'
export {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  gatewayInitSchema,
} from './options.js'
export type { GatewayInit, GatewayOptions } from './options.js'
export { IDEMPOTENCY_KEY_MAX_LENGTH } from './options.js'
