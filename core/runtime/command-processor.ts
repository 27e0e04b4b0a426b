import type { Clock } from '../clock.js'
import {
  AskCycleError,
  AskTimeoutError,
  HandlerError,
  IdempotencyKeyReusedError,
  issuesText,
  NotRunningError,
  OverloadedError,
  StoreUnavailableError,
  UnknownCommandError,
  ValidationError,
} from '../errors.js'
import {
  compareEventKeys,
  eventKey,
  type EventDraft,
  type EventKey,
  type EventRecord,
} from '../event.js'
import type { DurableEventFeed } from '../event-feed.js'
import type { EventStore } from '../event-store.js'
import type { TapActor } from '../taps.js'
import type { ActorCell } from './actor-cell.js'
import { HandlerContext, type ContextHost } from './handler-context.js'
import type { KeyedCommand, LedgerEntry } from './idempotency-ledger.js'
import type { PendingAsk } from './pending-ask.js'
import type { ReplicaEngine } from './replica.js'
import type { RuntimeTaps } from './runtime-taps.js'
import { LATENCY_SAMPLE_EVERY } from './runtime-stats.js'

/**
 * Runs one command on a loaded actor: validates its input, calls its handler, persists the
 * events it emitted, then replies (persist before reply). Synchronous from end to end when
 * the handler is and emits nothing; only the handler and the append cost promise turns.
 */
export class CommandProcessor {
  constructor(
    private readonly host: ContextHost,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly durable: DurableEventFeed,
    private readonly replica: ReplicaEngine,
    private readonly taps: RuntimeTaps,
  ) {}

  /**
   * Handles `command` with `input` on `cell`; settles `reply`, if any (a tell has none), in
   * every case. The parts of the message come apart so that a tell, queued without a message
   * object, is handled without one. `keyed`: its idempotency key, when it was sent with one.
   */
  handle(
    cell: ActorCell,
    name: string,
    input: unknown,
    chain: readonly string[] | undefined,
    reply: PendingAsk | undefined,
    keyed?: KeyedCommand,
  ): void | Promise<void> {
    const { definition } = cell
    const actor = this.taps.messageActor(cell)
    const started = actor ? this.clock.now() : 0
    // Inline, not a call: this line runs for every command.
    const stats = cell.stats
    const sampled =
      stats !== undefined && (++stats.seen & (LATENCY_SAMPLE_EVERY - 1)) === 0
        ? performance.now()
        : 0
    if (actor) this.taps.received(actor, name, started)
    if (keyed !== undefined && cell.ledger !== undefined) {
      const ran = cell.ledger.find(keyed.key, this.clock.now())
      if (ran) return this.replay(cell, name, reply, keyed, actor, started, ran)
    }
    const command = definition.commands[name]
    if (!command)
      return this.fail(
        cell,
        name,
        reply,
        actor,
        new UnknownCommandError(
          `actor type '${definition.type}' has no command '${name}'; it has: ${Object.keys(definition.commands).join(', ')}`,
        ),
      )
    const parsed = command.input.safeParse(input)
    if (!parsed.success)
      return this.fail(
        cell,
        name,
        reply,
        actor,
        new ValidationError(
          `invalid input for ${definition.type}.${name}: ${issuesText(parsed.error.issues)}`,
          { issues: parsed.error.issues },
        ),
      )
    const ctx = new HandlerContext(this.host, cell, chain, keyed)
    let result: unknown
    try {
      result = command.handle(ctx, parsed.data)
    } catch (error) {
      return this.fail(cell, name, reply, actor, handlerError(cell, name, error))
    }
    if (isPromiseLike(result))
      return Promise.resolve(result).then(
        (answer) => this.finish(cell, name, reply, keyed, ctx, actor, started, sampled, answer),
        (error: unknown) => {
          ctx.close()
          this.fail(cell, name, reply, actor, handlerError(cell, name, error))
        },
      )
    return this.finish(cell, name, reply, keyed, ctx, actor, started, sampled, result)
  }

  /** Persists what the handler emitted, then replies. */
  private finish(
    cell: ActorCell,
    name: string,
    reply: PendingAsk | undefined,
    keyed: KeyedCommand | undefined,
    ctx: HandlerContext,
    actor: TapActor | undefined,
    started: number,
    sampled: number,
    answer: unknown,
  ): void | Promise<void> {
    ctx.close()
    let { drafts } = ctx
    if (keyed !== undefined)
      try {
        drafts = ctx.keyedDrafts(keyed, answer)
      } catch (error) {
        return this.fail(cell, name, reply, actor, handlerError(cell, name, error))
      }
    if (drafts === undefined) {
      this.count(cell, sampled)
      if (actor) this.taps.handled(actor, name, started, 0)
      reply?.resolve(answer)
      return
    }
    const emitted = drafts
    const handled = () => {
      this.count(cell, sampled)
      if (actor) this.taps.handled(actor, name, started, emitted.length)
      reply?.resolve(answer)
    }
    if (this.canPipeline(cell, drafts))
      return this.pipeline(cell, name, reply, actor, drafts, handled)
    // Waits for appends under way first: a re-fold reads the store, which must hold them.
    const persisted =
      cell.inFlight > 0
        ? cell.settled.then(() => this.persist(cell, drafts))
        : this.persist(cell, drafts)
    return persisted.then(handled, (error: unknown) => this.fail(cell, name, reply, actor, error))
  }

  /**
   * Pipelined persistence: the events are folded into the actor now, so its next command
   * runs against them while they are being made durable (several commands of a hot actor
   * share one group commit), and the reply still waits for the append (persist before
   * reply). Only when the events sort after everything the actor has folded (its own new
   * events always do; anything else takes the path that re-folds) and not past
   * MAX_PIPELINED_APPENDS appends under way.
   */
  private canPipeline(cell: ActorCell, drafts: EventDraft[]): boolean {
    if (cell.inFlight >= MAX_PIPELINED_APPENDS || cell.lateFrom) return false
    const last = cell.last
    return last === undefined || drafts.every((d) => compareEventKeys(provisionalKey(d), last) > 0)
  }

  private pipeline(
    cell: ActorCell,
    name: string,
    reply: PendingAsk | undefined,
    actor: TapActor | undefined,
    drafts: EventDraft[],
    handled: () => void,
  ): void | Promise<void> {
    const epoch = cell.appendEpoch
    const appending = this.store.append(drafts, cell.appendOptions)
    // Counted before the fold: no snapshot is taken of a state holding events not yet stored.
    cell.inFlight++
    this.replica.foldEmitted(
      cell,
      drafts.map((d) => ({ ...d, seq: PROVISIONAL_SEQ })),
    )
    // Outcomes are taken in command order, whatever order the store settles in: a failure
    // is seen by every later command before it answers.
    const previous = cell.settled
    const stored = (records: EventRecord[]) => {
      cell.inFlight--
      // The actor's last key gets its real seq, unless a later command's events are last.
      const last = records.at(-1)!
      if (cell.last && isProvisional(cell.last) && sameStamp(cell.last, last))
        cell.last = eventKey(last)
      this.durable.publish({ events: records })
      this.taps.appended(records)
      // An earlier append failed: this command ran against its events.
      if (cell.appendEpoch !== epoch)
        return this.fail(cell, name, reply, actor, sawFailedAppend(cell))
      handled()
    }
    const failed = (error: unknown) => {
      cell.inFlight--
      if (cell.appendEpoch === epoch) {
        // The first failure: whatever the actor folded since may not be stored. It reloads
        // from the store (once every append under way has settled) before its next
        // message, and each command that saw these events fails.
        cell.appendEpoch++
        cell.markStale()
        if (cell.stats) cell.stats.appendFailures++
      }
      this.fail(cell, name, reply, actor, error)
    }
    const done = appending.then(
      (records) => previous.then(() => stored(records)),
      (error: unknown) => previous.then(() => failed(error)),
    )
    // `done` settles only after `previous` has (each outcome waits for it): no Promise.all needed.
    cell.settled = done.then(noop, noop)
    // Past the bound, the mailbox waits for the oldest appends before the next command.
    if (cell.inFlight >= MAX_PIPELINED_APPENDS) return cell.settled
  }

  /**
   * Answers a command whose idempotency key the actor's events already record: with the
   * first run's reply once that run is durable, or IdempotencyKeyReusedError when the key
   * came with another command or input. The handler does not run again.
   */
  private replay(
    cell: ActorCell,
    name: string,
    reply: PendingAsk | undefined,
    keyed: KeyedCommand,
    actor: TapActor | undefined,
    started: number,
    ran: LedgerEntry,
  ): void | Promise<void> {
    if (ran.fingerprint !== keyed.fingerprint)
      return this.fail(
        cell,
        name,
        reply,
        actor,
        new IdempotencyKeyReusedError(
          `this idempotency key was used on ${cell.address} for another command or input: use a new key for a new operation`,
        ),
      )
    const answer = () => {
      keyed.replayed = true
      if (cell.stats) cell.stats.handled++
      if (actor) this.taps.handled(actor, name, started, 0)
      reply?.resolve(ran.reply)
    }
    if (cell.inFlight === 0) return answer()
    // The first run may still be on its way to the store: its reply waits until it is durable.
    const epoch = cell.appendEpoch
    return cell.settled.then(() =>
      cell.appendEpoch === epoch
        ? answer()
        : this.fail(cell, name, reply, actor, sawFailedAppend(cell)),
    )
  }

  /** Counts a handled command (and its latency, when it was sampled) for metrics. */
  private count(cell: ActorCell, sampled: number): void {
    const { stats } = cell
    if (stats === undefined) return
    stats.handled++
    if (sampled !== 0) stats.sampleEnd(sampled)
  }

  private fail(
    cell: ActorCell,
    name: string,
    reply: PendingAsk | undefined,
    actor: TapActor | undefined,
    error: unknown,
  ): void {
    if (cell.stats) cell.stats.failed++
    if (actor) this.taps.failed(actor, name, error)
    reply?.reject(error)
  }

  /** Appends the drafts, then folds the stored records (with their seqs) into the actor. */
  private async persist(cell: ActorCell, drafts: EventDraft[]): Promise<void> {
    let records: EventRecord[]
    try {
      records = await this.store.append(drafts, cell.appendOptions)
    } catch (error) {
      // The append may have landed all the same (a reply lost after the write): the replica
      // reloads from the store before its next message rather than trust what it holds.
      cell.markStale()
      if (cell.stats) cell.stats.appendFailures++
      throw error
    }
    this.durable.publish({ events: records })
    this.taps.appended(records)
    // Only a re-fold is asynchronous: the common in-order fold costs no extra promise turn.
    const refolding = this.replica.fold(cell, records)
    if (refolding) await refolding
  }
}

/** Most appends of one actor under way at once (each a command answered when it is durable). */
export const MAX_PIPELINED_APPENDS = 64

/**
 * The seq an event folded before its append returns is given: above every real seq, so a
 * key made from it sorts after the stored event of the same HLC and origin (a read `after`
 * it never folds that event twice). Own events never tie on HLC, so no order changes.
 */
const PROVISIONAL_SEQ = Number.MAX_SAFE_INTEGER

function provisionalKey(draft: EventDraft): EventKey {
  return { hlc: draft.hlc, origin: draft.origin, seq: PROVISIONAL_SEQ }
}

function isProvisional(key: EventKey): boolean {
  return key.seq === PROVISIONAL_SEQ
}

function sameStamp(a: EventKey, b: EventKey): boolean {
  return a.origin === b.origin && a.hlc.wall === b.hlc.wall && a.hlc.logical === b.hlc.logical
}

function sawFailedAppend(cell: ActorCell): StoreUnavailableError {
  return new StoreUnavailableError(
    `an earlier command of ${cell.address} could not be stored, and this one ran after it: its outcome is not confirmed, retry it`,
  )
}

function noop(): void {}

function handlerError(cell: ActorCell, command: string, error: unknown): Error {
  // A condition of the runtime met through ctx.ask (a cycle, a timeout, an overloaded or
  // stopped runtime, a store that is down) keeps its class, so the caller gets its status;
  // anything else, a bad emit included, is the handler's failure.
  if (
    error instanceof AskCycleError ||
    error instanceof AskTimeoutError ||
    error instanceof OverloadedError ||
    error instanceof NotRunningError ||
    error instanceof StoreUnavailableError
  )
    return error
  const reason = error instanceof Error ? error.message : String(error)
  return new HandlerError(`command '${command}' of ${cell.address} failed: ${reason}`, {
    cause: error,
  })
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}
