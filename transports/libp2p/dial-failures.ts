// What a link to one peer tells of its failed dials: the last reason (for `status()`), and a
// log line per distinct reason, info while a link that never connected is starting.
import type { Clock, Logger } from '../../core/index.js'

/**
 * How long after its start a link that never connected reports its dial failures as info,
 * not warnings: geos started together dial each other before they all listen. A peer that
 * answers with another PeerId is warned at once (a configuration error, not a start).
 */
export const STARTUP_GRACE_MS = 30_000

/** How libp2p's Noise says the peer at a dialled address holds another key. */
const WRONG_IDENTITY = /does not match expected remote identity/

/**
 * Whether a dial failed because the peer holds another key than the PeerId dialled: the
 * error itself, its causes, or (a peer of several addresses) any of the errors of libp2p's
 * AggregateError.
 */
export function isWrongIdentity(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false
  if (error.name === 'UnexpectedPeerError' || WRONG_IDENTITY.test(error.message)) return true
  const inner = error instanceof AggregateError ? (error.errors as unknown[]).slice(0, 16) : []
  return [error.cause, ...inner].some((e) => isWrongIdentity(e, depth + 1))
}

export class DialFailures {
  private last: string | undefined
  /** The last reason a warning named (a reason first seen in the startup grace is warned after it). */
  private lastWarned: string | undefined
  private everConnected = false
  private readonly startedAt: number

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** The fields that name the peer in each line. */
    private readonly peer: () => Record<string, string>,
  ) {
    this.startedAt = clock.now()
  }

  /** The reason of the last failure, until a handshake succeeds. */
  get lastError(): string | undefined {
    return this.last
  }

  /** A dial or handshake failed: `wrongIdentity` when the peer holds another key. */
  failed(reason: string, wrongIdentity: boolean): void {
    const fields = { ...this.peer(), error: reason }
    const starting =
      !this.everConnected && this.clock.now() - this.startedAt < STARTUP_GRACE_MS && !wrongIdentity
    if (starting) {
      if (reason !== this.last) this.logger.info('fabric peer not reachable yet; retrying', fields)
    } else if (reason !== this.lastWarned) {
      this.logger.warn('fabric dial failed', fields)
      this.lastWarned = reason
    }
    this.last = reason
  }

  /** A handshake succeeded: the next failure is told again, as a warning. */
  handshook(): void {
    this.everConnected = true
    this.last = undefined
    this.lastWarned = undefined
  }
}
