// anywhere-node/client: a typed HTTP client of a node, for browsers and Node alike.
// It imports only types from the runtime: nothing here pulls in a Node module.
export { createClient, newIdempotencyKey, DEFAULT_CLIENT_TIMEOUT_MS } from './client.js'
export type { AnywhereClient, ClientOptions } from './client.js'
export type {
  ActorOfType,
  ActorSet,
  ActorsIn,
  ActorTypeName,
  AskArgs,
  CallOptions,
  ReadResult,
  RemoteActor,
} from './types.js'
export {
  AnywhereClientError,
  ClientAbortedError,
  ClientTimeoutError,
  NetworkError,
  RemoteAskCycleError,
  RemoteAskTimeoutError,
  RemoteHandlerError,
  RemoteIdempotencyKeyReusedError,
  RemoteNotFoundError,
  RemoteNotRunningError,
  RemoteOverloadedError,
  RemotePayloadTooLargeError,
  RemoteStoreUnavailableError,
  RemoteUnknownActorTypeError,
  RemoteUnknownCommandError,
  RemoteValidationError,
  ResponseTooLargeError,
  errorFromResponse,
} from './errors.js'
export type { ClientErrorOptions, ClientIssue } from './errors.js'
export { DEFAULT_RETRY, isRetryable } from './retry.js'
export { DEFAULT_MAX_RESPONSE_BYTES } from './response-body.js'
export type { RetryInit } from './retry.js'
