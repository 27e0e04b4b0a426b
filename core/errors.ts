/**
 * One class per failure condition. Each has an explicit `name` (stable across
 * minification and used as the `error` field of HTTP error bodies), a message that
 * says what to do, and carries `cause` through.
 */

/** Base class of every error the runtime raises on purpose. */
export class AnywhereError extends Error {
  override name = 'AnywhereError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A command's input (or an emitted event's payload) does not match its zod schema. */
export class ValidationError extends AnywhereError {
  override name = 'ValidationError'
  constructor(
    message: string,
    readonly issues: ReadonlyArray<{
      path: ReadonlyArray<PropertyKey>
      message: string
      code?: string
    }>,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** No actor type of that name is registered on this node. */
export class UnknownActorTypeError extends AnywhereError {
  override name = 'UnknownActorTypeError'
  constructor(readonly actorType: string) {
    super(`unknown actor type '${actorType}': register it with defineActor() in the node's actors`)
  }
}

/** The actor type has no command of that name. */
export class UnknownCommandError extends AnywhereError {
  override name = 'UnknownCommandError'
  constructor(
    readonly actorType: string,
    readonly command: string,
    readonly known: readonly string[],
  ) {
    super(`actor type '${actorType}' has no command '${command}'; it has: ${known.join(', ')}`)
  }
}

/** A command handler threw: the command emitted nothing and the actor keeps serving. */
export class HandlerError extends AnywhereError {
  override name = 'HandlerError'
  constructor(actorType: string, actorId: string, command: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(`command '${command}' of ${actorType}/${actorId} failed: ${reason}`, { cause })
  }
}

/** An ask would wait on an actor that is already waiting on the asker: a deadlock. */
export class AskCycleError extends AnywhereError {
  override name = 'AskCycleError'
  constructor(readonly chain: readonly string[]) {
    super(
      `ask cycle ${chain.join(' -> ')}: an actor cannot wait on an actor that waits on it; use tell for one direction`,
    )
  }
}

/** An ask got no reply before its deadline. */
export class AskTimeoutError extends AnywhereError {
  override name = 'AskTimeoutError'
  constructor(target: string, timeoutMs: number) {
    super(`no reply from ${target} within ${timeoutMs} ms`)
  }
}

/** A call was aborted through its AbortSignal. */
export class AbortedError extends AnywhereError {
  override name = 'AbortedError'
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} was aborted`, options)
  }
}

/** An HTTP body or a fabric frame is larger than the limit that applies to it. */
export class PayloadTooLargeError extends AnywhereError {
  override name = 'PayloadTooLargeError'
  constructor(what: string, size: number, limit: number) {
    super(`${what} of ${size} bytes is over the limit of ${limit} bytes`)
  }
}

/** The runtime, a store or the gateway is stopped or stopping. */
export class NotRunningError extends AnywhereError {
  override name = 'NotRunningError'
  constructor(what: string) {
    super(`${what} is not running: start it first, or it is shutting down`)
  }
}

/** The event store cannot be reached (e.g. Redis is down). Retry later. */
export class StoreUnavailableError extends AnywhereError {
  override name = 'StoreUnavailableError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Stored data failed a checksum or could not be decoded; the store refuses to start. */
export class StoreCorruptError extends AnywhereError {
  override name = 'StoreCorruptError'
  constructor(
    message: string,
    readonly file?: string,
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Another process holds the store (its data dir lock). */
export class StoreLockedError extends AnywhereError {
  override name = 'StoreLockedError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A replicated event is malformed or contradicts an event already stored. */
export class EventRejectedError extends AnywhereError {
  override name = 'EventRejectedError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The node configuration is invalid; the message names the field. */
export class ConfigError extends AnywhereError {
  override name = 'ConfigError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A fabric frame could not be decoded or failed validation. */
export class FrameError extends AnywhereError {
  override name = 'FrameError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A fabric peer was refused: unknown identity, other app, or other protocol version. */
export class PeerRefusedError extends AnywhereError {
  override name = 'PeerRefusedError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The node is overloaded (its mailbox or request queue is full). Retry later or elsewhere. */
export class OverloadedError extends AnywhereError {
  override name = 'OverloadedError'
  constructor(message: string) {
    super(message)
  }
}

/** An `Idempotency-Key` came back with a different request: it names another operation. */
export class IdempotencyKeyReusedError extends AnywhereError {
  override name = 'IdempotencyKeyReusedError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
