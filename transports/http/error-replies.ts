// How the gateway answers an error: one table from error class to HTTP status, and one JSON
// body for every error, the runtime's own and Fastify's (a body too large, a bad parameter).
import type { FastifyError, FastifyReply } from 'fastify'
import {
  AbortedError,
  AnywhereError,
  AskCycleError,
  AskTimeoutError,
  ConfigError,
  FencedError,
  ForbiddenError,
  HandlerError,
  IdempotencyKeyReusedError,
  MAX_NAME_LENGTH,
  MemberUnreachableError,
  NotOwnerError,
  NotRunningError,
  OutcomeUnknownError,
  OverloadedError,
  PayloadTooLargeError,
  StoreCorruptError,
  StoreLockedError,
  StoreLeaseLostError,
  StoreUnavailableError,
  UnauthorizedError,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
  type Logger,
  type ThrottledWarning,
} from '../../core/index.js'
import { WWW_AUTHENTICATE } from './auth.js'

/** The one table from error class to HTTP status. Anything else is a 500. */
const STATUS_BY_ERROR: ReadonlyArray<readonly [new (...args: never[]) => Error, number]> = [
  [ValidationError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [UnknownActorTypeError, 404],
  [UnknownCommandError, 404],
  [IdempotencyKeyReusedError, 422],
  [PayloadTooLargeError, 413],
  [HandlerError, 500],
  [AskCycleError, 500],
  [StoreCorruptError, 500],
  [ConfigError, 500],
  [StoreLockedError, 500],
  [AbortedError, 503],
  [NotRunningError, 503],
  [StoreUnavailableError, 503],
  [StoreLeaseLostError, 503],
  [OverloadedError, 503],
  [AskTimeoutError, 504],
  [NotOwnerError, 503],
  [FencedError, 503],
  [MemberUnreachableError, 503],
  [OutcomeUnknownError, 502],
]

/** The HTTP status for an error, from the table above. */
export function statusForError(error: unknown): number {
  for (const [type, status] of STATUS_BY_ERROR) if (error instanceof type) return status
  return 500
}

/**
 * Answers `error` as JSON: `{ error, message }` with its status from the table, the issues of
 * a validation error, the types served for an unknown actor type. A 5xx is logged: a
 * handler's own failure (a bug in an actor: it may fail every request) through
 * `handlerFailures`, which writes one line per interval.
 */
export function sendError(
  reply: FastifyReply,
  error: FastifyError | Error,
  bodyLimitBytes: number,
  logger: Logger,
  handlerFailures: ThrottledWarning,
): FastifyReply {
  const fastifyError = error as FastifyError
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fastifyError.statusCode === 413) {
    return reply.code(413).send({
      error: 'PayloadTooLargeError',
      message: `the request body is over the limit of ${bodyLimitBytes} bytes`,
    })
  }
  if (error instanceof UnauthorizedError) reply.header('www-authenticate', WWW_AUTHENTICATE)
  if (fastifyError.validation) {
    // A route's JSON schema (the path parameters) refused the request: the issues in the
    // same shape as the runtime's, `where` its part of the request (params).
    const where = fastifyError.validationContext
    return reply.code(400).send({
      error: 'ValidationError',
      message: error.message,
      issues: fastifyError.validation.map((issue) => ({
        path: [...(where ? [where] : []), ...issue.instancePath.split('/').filter(Boolean)],
        message: issue.message ?? 'is invalid',
        code: issue.keyword,
      })),
    })
  }
  if (fastifyError.code === 'FST_ERR_MAX_PARAM_LENGTH' || fastifyError.code === 'FST_ERR_BAD_URL') {
    const tooLong = fastifyError.code === 'FST_ERR_MAX_PARAM_LENGTH'
    return reply.code(400).send({
      error: 'ValidationError',
      message: tooLong
        ? `a path segment of the URL is too long: actor types, ids and commands are at most ${MAX_NAME_LENGTH} characters`
        : 'the URL is malformed (a bad percent-encoding?)',
      issues: [{ path: ['url'], message: tooLong ? 'too long' : 'malformed', code: 'invalid_url' }],
    })
  }
  const status =
    error instanceof AnywhereError ? statusForError(error) : (fastifyError.statusCode ?? 500)
  if (error instanceof HandlerError)
    handlerFailures.warn({
      method: reply.request.method,
      url: reply.request.url,
      reason: error.message,
    })
  else if (status >= 500)
    logger.warn('request failed', { error: error.name, message: error.message })
  const body: Record<string, unknown> = {
    error:
      error instanceof AnywhereError ? error.name : status < 500 ? 'BadRequest' : 'InternalError',
    message: error.message,
  }
  if (error instanceof UnknownActorTypeError) body.servedTypes = error.servedTypes
  // A handler's bad emit is a HandlerError (500) whose cause holds the payload's issues.
  const invalid =
    error instanceof HandlerError && error.cause instanceof ValidationError ? error.cause : error
  if (invalid instanceof ValidationError && invalid.issues.length > 0)
    body.issues = invalid.issues.map((i) => ({
      path: i.path.map(String),
      message: i.message,
      code: i.code,
    }))
  return reply.code(status).send(body)
}
