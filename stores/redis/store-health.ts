// What a failed Redis call means (corrupt data, a fenced append, or Redis unreachable), and
// the store's availability: the warnings and taps when Redis goes away and comes back.
import {
  AnywhereError,
  FencedError,
  StoreCorruptError,
  StoreUnavailableError,
  type EventDraft,
  type EventStoreComponents,
  type Logger,
} from '../../core/index.js'
import { describeTarget, errorMessage, isReplyError } from './connection.js'
import { MemberDecodeError } from './encoding.js'
import type { RedisStoreSettings } from './options.js'

export class RedisStoreHealth {
  private available = true

  constructor(
    private readonly settings: RedisStoreSettings,
    private readonly components: EventStoreComponents,
    private readonly logger: Logger,
  ) {}

  /** A store started (again): available, without saying so. */
  reset(): void {
    this.available = true
  }

  /** What a failed command means for the caller: corrupt data, a fence, or Redis unreachable. */
  failure(error: unknown, what: string): AnywhereError {
    if (error instanceof AnywhereError) return error
    if (isReplyError(error) && /^FENCED/.test(errorMessage(error))) {
      this.logger.warn('append refused by the fence: another node of the geo took the actor', {
        message: errorMessage(error),
      })
      return new FencedError(
        `redis store: ${what} refused: another node of the geo has taken the actor since this node claimed it (${errorMessage(error)}); the command was not applied, retry it at the actor's owner`,
        { cause: error },
      )
    }
    if (error instanceof MemberDecodeError)
      return new StoreCorruptError(`redis store: ${error.message}`, { cause: error })
    const message = errorMessage(error)
    if (isReplyError(error) && /^(CORRUPT|WRONGTYPE)|not an integer|not a valid/.test(message))
      return new StoreCorruptError(
        `redis store: ${what} found data it did not write under '${this.settings.prefix}': ${message}. ` +
          'Another program may share the key prefix; give the store its own prefix or restore the keys',
        { cause: error },
      )
    // ioredis's words for "not connected now" (its offline queue is off: calls fail at once).
    const said = /enableOfflineQueue|Connection is closed|isn't writeable/.test(message)
      ? 'the connection to Redis is down'
      : message
    const reason = `Redis did not serve ${what}: ${said}`
    this.unavailable(reason)
    return new StoreUnavailableError(
      `redis store unavailable (${describeTarget(this.settings)}): ${reason}; retry later`,
      { cause: error },
    )
  }

  /** `actor.fenced`: another node of the geo took the actor of an append (its first draft). */
  fenced(first: EventDraft | undefined, failure: FencedError): void {
    const { taps, clock } = this.components
    if (!first || !taps.wants('actor.fenced')) return
    taps.publish({
      kind: 'actor.fenced',
      at: clock.now(),
      actor: { type: first.actorType, id: first.actorId },
      message: failure.message,
    })
  }

  /** Redis stopped answering: warns and publishes `store.unavailable`, once until it answers. */
  unavailable(message: string): void {
    if (!this.available) return
    this.available = false
    this.logger.warn('redis store unavailable; calls fail until Redis answers again', { message })
    this.components.taps.publish({
      kind: 'store.unavailable',
      at: this.components.clock.now(),
      message,
    })
  }

  /** Redis answered: after an outage, says so and publishes `store.available`. */
  answered(): void {
    if (this.available) return
    this.available = true
    this.logger.info('redis store available again')
    this.components.taps.publish({ kind: 'store.available', at: this.components.clock.now() })
  }
}
