// The errors a client call rejects with: one class per error name the gateway answers,
// and three for calls that got no answer (network, timeout, abort).

/** One problem found by the server's validation: where, and what is wrong. */
export interface ClientIssue {
  readonly path: readonly string[]
  readonly message: string
  readonly code?: string
}

/** What every error of a client call carries besides its message. */
export interface ClientErrorOptions extends ErrorOptions {
  /** The HTTP status; absent when no answer came (network failure, timeout, abort). */
  readonly status?: number
  /** The gateway's `error` field (`'ValidationError'`, ...), or the client-side condition. */
  readonly errorName: string
  readonly issues?: readonly ClientIssue[]
}

/**
 * Base class of every error a client call rejects with. `errorName` is the gateway's error
 * name (stable, the same as the server-side class) or, for a call that got no answer,
 * `'NetworkError'`, `'ClientTimeoutError'` or `'ClientAbortedError'`.
 */
export class AnywhereClientError extends Error {
  override name = 'AnywhereClientError'
  readonly status: number | undefined
  readonly errorName: string
  /** Field-by-field problems of a 400 (empty otherwise). */
  readonly issues: readonly ClientIssue[]
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
    this.status = options.status
    this.errorName = options.errorName
    this.issues = options.issues ?? []
  }
}

/** 400: the input does not match the command's schema, or the body is not JSON. See `issues`. */
export class RemoteValidationError extends AnywhereClientError {
  override name = 'RemoteValidationError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 404: the node serves no actor type of that name. See `servedTypes`. */
export class RemoteUnknownActorTypeError extends AnywhereClientError {
  override name = 'RemoteUnknownActorTypeError'
  /** The actor types the node does serve (the answer's `servedTypes`; empty if it gave none). */
  readonly servedTypes: readonly string[]
  constructor(message: string, options: ClientErrorOptions & { servedTypes?: readonly string[] }) {
    super(message, options)
    this.servedTypes = options.servedTypes ?? []
  }
}

/** 404: the actor type has no command of that name. */
export class RemoteUnknownCommandError extends AnywhereClientError {
  override name = 'RemoteUnknownCommandError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 404: no such route (the base URL probably points elsewhere than a node). */
export class RemoteNotFoundError extends AnywhereClientError {
  override name = 'RemoteNotFoundError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 413: the request body is over the node's `http.bodyLimitBytes`. */
export class RemotePayloadTooLargeError extends AnywhereClientError {
  override name = 'RemotePayloadTooLargeError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 422: the Idempotency-Key was already used with another body: use a new key. */
export class RemoteIdempotencyKeyReusedError extends AnywhereClientError {
  override name = 'RemoteIdempotencyKeyReusedError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 500: the command's handler threw; nothing was persisted. */
export class RemoteHandlerError extends AnywhereClientError {
  override name = 'RemoteHandlerError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 500: the command asked an actor that was waiting on it (a deadlock was refused). */
export class RemoteAskCycleError extends AnywhereClientError {
  override name = 'RemoteAskCycleError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 503: the node is overloaded; retried by the client. */
export class RemoteOverloadedError extends AnywhereClientError {
  override name = 'RemoteOverloadedError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 503: the node's store cannot be reached; retried by the client. */
export class RemoteStoreUnavailableError extends AnywhereClientError {
  override name = 'RemoteStoreUnavailableError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** 503: the node is starting or stopping; retried by the client. */
export class RemoteNotRunningError extends AnywhereClientError {
  override name = 'RemoteNotRunningError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/**
 * 504: the command got no reply in time; it may still run. A retry with the same
 * Idempotency-Key gets this same answer rather than running it twice.
 */
export class RemoteAskTimeoutError extends AnywhereClientError {
  override name = 'RemoteAskTimeoutError'
  constructor(message: string, options: ClientErrorOptions) {
    super(message, options)
  }
}

/** No answer: the connection failed or broke (`cause` is what `fetch` threw). */
export class NetworkError extends AnywhereClientError {
  override name = 'NetworkError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, errorName: 'NetworkError' })
  }
}

/** No answer within the attempt's `timeoutMs`. */
export class ClientTimeoutError extends AnywhereClientError {
  override name = 'ClientTimeoutError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, errorName: 'ClientTimeoutError' })
  }
}

/**
 * The answer's body is larger than `maxResponseBytes` (client or call option): the client
 * stopped reading it. Not retried: the same request would bring the same answer.
 */
export class ResponseTooLargeError extends AnywhereClientError {
  override name = 'ResponseTooLargeError'
  /** The bound that was passed, in bytes. */
  readonly limitBytes: number
  constructor(message: string, options: ErrorOptions & { status: number; limitBytes: number }) {
    super(message, { ...options, errorName: 'ResponseTooLargeError' })
    this.limitBytes = options.limitBytes
  }
}

/** The caller's AbortSignal fired: the call stopped, and is not retried. */
export class ClientAbortedError extends AnywhereClientError {
  override name = 'ClientAbortedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, errorName: 'ClientAbortedError' })
  }
}

type RemoteErrorClass = new (message: string, options: ClientErrorOptions) => AnywhereClientError

/** The class for each gateway error name; a Map, so a name like 'constructor' finds nothing. */
const CLASS_BY_ERROR_NAME: ReadonlyMap<string, RemoteErrorClass> = new Map([
  ['ValidationError', RemoteValidationError],
  ['UnknownActorTypeError', RemoteUnknownActorTypeError],
  ['UnknownCommandError', RemoteUnknownCommandError],
  ['NotFound', RemoteNotFoundError],
  ['PayloadTooLargeError', RemotePayloadTooLargeError],
  ['IdempotencyKeyReusedError', RemoteIdempotencyKeyReusedError],
  ['HandlerError', RemoteHandlerError],
  ['AskCycleError', RemoteAskCycleError],
  ['OverloadedError', RemoteOverloadedError],
  ['StoreUnavailableError', RemoteStoreUnavailableError],
  ['NotRunningError', RemoteNotRunningError],
  ['AskTimeoutError', RemoteAskTimeoutError],
])

/** Longest error message kept from a response body that is not the gateway's JSON. */
const MAX_FOREIGN_MESSAGE_LENGTH = 200

/**
 * The error for a non-2xx answer, from its body `{ error, message, issues? }`. A body of
 * another shape (a proxy's HTML page, say) gives the base class named `HttpError`.
 */
export function errorFromResponse(status: number, bodyText: string): AnywhereClientError {
  const body = parseErrorBody(bodyText)
  if (!body)
    return new AnywhereClientError(
      `HTTP ${status}: ${bodyText.slice(0, MAX_FOREIGN_MESSAGE_LENGTH) || '(empty body)'}`,
      { status, errorName: 'HttpError' },
    )
  const Class = CLASS_BY_ERROR_NAME.get(body.error) ?? AnywhereClientError
  const options = { status, errorName: body.error, issues: body.issues }
  if (Class === RemoteUnknownActorTypeError)
    return new RemoteUnknownActorTypeError(body.message, {
      ...options,
      servedTypes: body.servedTypes,
    })
  return new Class(body.message, options)
}

function parseErrorBody(
  text: string,
): { error: string; message: string; issues: ClientIssue[]; servedTypes: string[] } | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { error, message, issues, servedTypes } = value as Record<string, unknown>
  if (typeof error !== 'string' || typeof message !== 'string') return undefined
  return {
    error,
    message,
    issues: Array.isArray(issues) ? issues.filter(isIssue) : [],
    servedTypes: Array.isArray(servedTypes)
      ? servedTypes.filter((t): t is string => typeof t === 'string')
      : [],
  }
}

function isIssue(value: unknown): value is ClientIssue {
  if (typeof value !== 'object' || value === null) return false
  const { path, message } = value as Record<string, unknown>
  return (
    typeof message === 'string' && Array.isArray(path) && path.every((p) => typeof p === 'string')
  )
}
