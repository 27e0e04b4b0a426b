// The HTTP gateway of a node.
export { DEFAULT_BODY_LIMIT_BYTES, Gateway, gateway, statusForError } from './gateway.js'
export type { GatewayComponents, GatewayInit } from './gateway.js'
export {
  DEFAULT_IDEMPOTENCY_KEYS,
  IDEMPOTENCY_KEY_MAX_LENGTH,
  IdempotencyCache,
} from './idempotency-cache.js'
