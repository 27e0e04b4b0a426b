/**
 * One class per failure condition. Each has an explicit `name` (stable across minification
 * and used as the `error` field of HTTP error bodies) and takes `(message, options?)`: the
 * message says what happened and what to do, `options.cause` is carried through, and a
 * class with fields of its own takes them in its options.
 */

/** One problem found by validation: where, and what is wrong. */
export interface ValidationIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly code?: string
}

/**
 * Issues on one line, `path: message; ...` (`(root)` for the value itself): the first `max`,
 * then how many more there are.
 */
export function issuesText(issues: readonly ValidationIssue[], max = Infinity): string {
  const shown = issues
    .slice(0, max)
    .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`)
  return shown.join('; ')
}

/** Base class of every error the runtime raises on purpose. */
export class AnywhereError extends Error {
  override name = 'AnywhereError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A command's input (or an emitted event's payload) does not match its zod schema. */
export class ValidationError extends AnywhereError {
  override name = 'ValidationError'
  /** What is wrong, field by field (empty when the input could not be read at all). */
  readonly issues: readonly ValidationIssue[]
  constructor(message: string, options?: ErrorOptions & { issues?: readonly ValidationIssue[] }) {
    super(message, options)
    this.issues = options?.issues ?? []
  }
}

/** No actor type of that name is registered on this node. */
export class UnknownActorTypeError extends AnywhereError {
  override name = 'UnknownActorTypeError'
  /** The actor types this node does serve. */
  readonly servedTypes: readonly string[]
  constructor(message: string, options?: ErrorOptions & { servedTypes?: readonly string[] }) {
    super(message, options)
    this.servedTypes = options?.servedTypes ?? []
  }
}

/** The actor type has no command of that name. */
export class UnknownCommandError extends AnywhereError {
  override name = 'UnknownCommandError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A command handler threw: the command emitted nothing and the actor keeps serving. */
export class HandlerError extends AnywhereError {
  override name = 'HandlerError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** An ask would wait on an actor that is already waiting on the asker: a deadlock. */
export class AskCycleError extends AnywhereError {
  override name = 'AskCycleError'
  /** The actors of the cycle, asker first. */
  readonly chain: readonly string[]
  constructor(message: string, options: ErrorOptions & { chain: readonly string[] }) {
    super(message, options)
    this.chain = options.chain
  }
}

/** An ask got no reply before its deadline. */
export class AskTimeoutError extends AnywhereError {
  override name = 'AskTimeoutError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A call was aborted through its AbortSignal. */
export class AbortedError extends AnywhereError {
  override name = 'AbortedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** An HTTP body, an event or a fabric frame is larger than the limit that applies to it. */
export class PayloadTooLargeError extends AnywhereError {
  override name = 'PayloadTooLargeError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The runtime, a store or the gateway is stopped or stopping. */
export class NotRunningError extends AnywhereError {
  override name = 'NotRunningError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The event store cannot be reached (e.g. Redis is down). Retry later. */
export class StoreUnavailableError extends AnywhereError {
  override name = 'StoreUnavailableError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** Stored data failed a checksum or could not be decoded; the store refuses to start. */
export class StoreCorruptError extends AnywhereError {
  override name = 'StoreCorruptError'
  /** The damaged file, when the store is made of files. */
  readonly file?: string
  /** Where in that file the damage starts. */
  readonly offset?: number
  constructor(message: string, options?: ErrorOptions & { file?: string; offset?: number }) {
    super(message, options)
    this.file = options?.file
    this.offset = options?.offset
  }
}

/** Another process holds the store (its data dir lock). */
export class StoreLockedError extends AnywhereError {
  override name = 'StoreLockedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/**
 * This node no longer holds the store it writes to: another process took it over (a Redis
 * prefix's owner lease, taken by another node while this one was paused or cut off from
 * Redis past the lease). Nothing was written; the node refuses writes until it is restarted.
 */
export class StoreLeaseLostError extends AnywhereError {
  override name = 'StoreLeaseLostError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The node configuration is invalid; the message names the field. */
export class ConfigError extends AnywhereError {
  override name = 'ConfigError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A fabric frame could not be decoded or failed validation. */
export class FrameError extends AnywhereError {
  override name = 'FrameError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The node is overloaded (its mailbox or request queue is full). Retry later or elsewhere. */
export class OverloadedError extends AnywhereError {
  override name = 'OverloadedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** An `Idempotency-Key` came back with a different request: it names another operation. */
export class IdempotencyKeyReusedError extends AnywhereError {
  override name = 'IdempotencyKeyReusedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A request carries no valid credentials: send `Authorization: Bearer <token>`. */
export class UnauthorizedError extends AnywhereError {
  override name = 'UnauthorizedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A request's credentials are valid but lack the scope the route needs. */
export class ForbiddenError extends AnywhereError {
  override name = 'ForbiddenError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The message of a NotRunningError for `what` (e.g. `the file store`). */
export function notRunningMessage(what: string): string {
  return `${what} is not running: start it first, or it is shutting down`
}

/** The message of a PayloadTooLargeError: `what` of `size` bytes over `limit`. */
export function tooLargeMessage(what: string, size: number, limit: number): string {
  return `${what} of ${size} bytes is over the limit of ${limit} bytes`
}

/**
 * A geo failed while it handled a request that is not safe to repeat (a command without an
 * `Idempotency-Key`): it may or may not have been applied. Send commands with an
 * `Idempotency-Key` to have an edge retry them on another geo.
 */
export class OutcomeUnknownError extends AnywhereError {
  override name = 'OutcomeUnknownError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** No geo can take the request now (every one is down, or at its bound of requests in flight): retry later. */
export class NoGeoAvailableError extends AnywhereError {
  override name = 'NoGeoAvailableError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/**
 * This node does not own the actor (a geo of several nodes places each actor on one): the
 * message was not run. The sender looks the owner up again and retries there.
 */
export class NotOwnerError extends AnywhereError {
  override name = 'NotOwnerError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/**
 * The store refused an append because another node has taken the actor since this node
 * claimed it (its fencing epoch moved on): nothing was written. Retried at the new owner.
 */
export class FencedError extends AnywhereError {
  override name = 'FencedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The node that owns an actor could not be reached: the message was not sent. Retry later. */
export class MemberUnreachableError extends AnywhereError {
  override name = 'MemberUnreachableError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}
