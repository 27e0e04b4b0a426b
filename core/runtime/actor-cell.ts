import type { ErasedActorDefinition } from '../actor.js'
import type { AppendOptions } from '../event-store.js'
import { compareEventKeys, eventKey, type EventKey, type EventRecord } from '../event.js'
import type { ActorView } from './actor-ref.js'
import type { IdempotencyLedger, KeyedCommand } from './idempotency-ledger.js'
import { Mailbox } from './mailbox.js'
import type { PendingAsk } from './pending-ask.js'
import type { ActorTypeStats } from './runtime-stats.js'

/** What `settled` starts as: one resolved promise shared by every cell, not one each. */
const NOTHING_IN_FLIGHT: Promise<void> = Promise.resolve()

/** How many events apart the in-memory checkpoints used for re-folds are, and how many are kept. */
const CHECKPOINT_EVERY = 64
const MAX_CHECKPOINTS = 8

/** A command on its way to an actor. */
export interface CommandMessage {
  kind: 'command'
  command: string
  input: unknown
  chain: readonly string[] | undefined
  /** Where the reply goes: absent for a tell. */
  reply: PendingAsk | undefined
  /** Its idempotency key, when it was sent with one. */
  keyed?: KeyedCommand
}

/** What an actor's mailbox carries: commands, reads, and replicated events to fold. */
export type Message =
  | CommandMessage
  | { kind: 'read'; resolve: (view: ActorView) => void; reject: (error: unknown) => void }
  | { kind: 'ingest'; events: EventRecord[] }

/**
 * What an actor's mailbox queues: a message, or a tell as its bare command name (its input
 * is the mailbox item's argument), so that a tell costs no object of its own.
 */
export type MailboxItem = Message | string

/** Fails whoever waits on a message (a tell and an ingest have no one). */
export function failMessage(message: MailboxItem, error: unknown): void {
  if (typeof message === 'string') return
  if (message.kind === 'read') message.reject(error)
  else if (message.kind === 'command') message.reply?.reject(error)
}

/** A state the actor held after `count` events, the last of them at `at`: where a re-fold can start. */
export interface Checkpoint {
  at: EventKey
  state: unknown
  count: number
  /** The idempotency keys at that point, when the actor has any (a copy no later fold changes). */
  ledger?: IdempotencyLedger | undefined
}

/** One live actor: its state, its mailbox and what it needs to re-fold. */
export class ActorCell {
  state: unknown
  last: EventKey | undefined
  count = 0
  /** The idempotency keys its events record: absent until it folds its first `$keyed` event. */
  ledger: IdempotencyLedger | undefined
  sinceSnapshot = 0
  checkpoints: Checkpoint[] = []
  lastUsed: number
  /** Set once the actor has been rehydrated from the store. */
  ready = false
  /** Snapshot attempts that failed in a row (each doubles the wait before the next). */
  snapshotFailures = 0
  /** Bumped whenever the replica must reload from the store; a load begun before it does not count. */
  generation = 0
  /** Set when the cell leaves memory: refs that cached it look it up again. */
  evicted = false
  /**
   * The earliest replicated event that sorts before what `state` has folded. The state is
   * re-folded from before it once, before the next command or read, however many late
   * events arrive meanwhile (a catch-up after a partition brings many in a row).
   */
  lateFrom: EventRecord | undefined
  loading: Promise<void> | undefined
  readonly mailbox: Mailbox<MailboxItem, unknown>
  /** Its type's counters, when the node keeps metrics. */
  stats: ActorTypeStats | undefined
  /**
   * Appends under way whose events `state` already holds (pipelined persistence): the
   * commands that emitted them are answered once each is durable.
   */
  inFlight = 0
  /** Settles (never rejects) once every append under way has settled. */
  settled: Promise<void> = NOTHING_IN_FLIGHT
  /** Bumped when an append fails: a command whose events were folded before it saw them. */
  appendEpoch = 0
  /** What its appends carry: the fencing epoch it was claimed under, in a geo of several nodes. */
  appendOptions: AppendOptions | undefined

  constructor(
    readonly definition: ErasedActorDefinition,
    readonly id: string,
    readonly address: string,
    now: number,
    capacity: number,
    process: (cell: ActorCell, item: MailboxItem, input: unknown) => void | Promise<void>,
    onError: (cell: ActorCell, error: unknown) => void,
  ) {
    this.state = definition.initialState
    this.lastUsed = now
    this.mailbox = new Mailbox<MailboxItem, unknown>(
      (item, input) => process(this, item, input),
      capacity,
      (error) => onError(this, error),
    )
  }

  /** Counts one more folded event (its state is already in `state`), keeping a checkpoint every so often. */
  advance(event: EventKey): void {
    this.last = eventKey(event)
    this.count++
    this.sinceSnapshot++
    if (this.count % CHECKPOINT_EVERY === 0) {
      this.checkpoints.push({
        at: this.last,
        state: this.state,
        count: this.count,
        ledger: this.ledger?.clone(),
      })
      if (this.checkpoints.length > MAX_CHECKPOINTS) this.checkpoints.shift()
    }
  }

  /** Drops the checkpoints at or after `late`; returns the newest one left (where a re-fold starts). */
  checkpointBefore(late: EventKey): Checkpoint | undefined {
    while (this.checkpoints.length > 0 && compareEventKeys(this.checkpoints.at(-1)!.at, late) >= 0)
      this.checkpoints.pop()
    return this.checkpoints.at(-1)
  }

  /** Rewinds the state to `base` (or to the initial state) before events after it are folded again. */
  rewind(base: Checkpoint | undefined): void {
    this.state = base ? base.state : this.definition.initialState
    this.ledger = base?.ledger?.clone()
    this.count = base ? base.count : 0
    this.last = base?.at
    this.lateFrom = undefined
  }

  /** Nothing queued and no append under way: the cell may leave memory. */
  get idle(): boolean {
    return this.mailbox.idle && this.inFlight === 0
  }

  /** Resolves once the mailbox is empty and every append under way has settled. */
  async whenIdle(): Promise<void> {
    while (!this.idle) {
      await this.mailbox.whenIdle()
      await this.settled
    }
  }

  /** The replica reloads from the store before it handles its next message. */
  markStale(): void {
    this.ready = false
    this.loading = undefined
    this.generation++
  }
}
