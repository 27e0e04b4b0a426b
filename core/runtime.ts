import {
  eraseActorTypes,
  type ActorContext,
  type AnyActorDefinition,
  type ErasedActorDefinition,
  type CommandInput,
  type CommandName,
  type CommandReply,
  type StateOf,
} from './actor.js'
import type { Clock } from './clock.js'
import {
  AbortedError,
  AnywhereError,
  AskCycleError,
  AskTimeoutError,
  HandlerError,
  NotRunningError,
  OverloadedError,
  StoreUnavailableError,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
} from './errors.js'
import {
  actorAddress,
  assertStorablePayload,
  compareEventKeys,
  eventKey,
  type EventDraft,
  type EventKey,
  type EventRecord,
} from './event.js'
import type { EventStore } from './event-store.js'
import type { HybridLogicalClock } from './hlc.js'
import { raceAbort } from '../support/abort.js'
import { applyDefaults } from '../support/options.js'
import type { AbortOptions, Startable } from './lifecycle.js'
import type { Logger } from './logger.js'
import { DurableEventFeed, type EventFeed } from './event-feed.js'
import { Mailbox } from './mailbox.js'
import type { TapActor, Taps } from './taps.js'

/** What a user tunes about the runtime. */
export interface RuntimeInit {
  /** The actor types this node serves. */
  actors: readonly AnyActorDefinition[]
  /** Most actors held in memory; the least recently used idle ones are evicted past it. */
  maxActorsInMemory?: number
  /** An actor unused this long is evicted (it is rehydrated from the store on its next message). */
  idleEvictMs?: number
  /** Persist a snapshot of an actor after this many events since its last one. */
  snapshotEvery?: number
  /** Most messages waiting in one actor's mailbox; more are refused with OverloadedError. */
  mailboxCapacity?: number
  /** Default deadline of an ask. */
  askTimeoutMs?: number
  /** How long `stop()` waits for queued messages to finish. */
  stopTimeoutMs?: number
}

/** What the node injects. */
export interface RuntimeComponents {
  store: EventStore
  clock: Clock
  hlc: HybridLogicalClock
  taps: Taps
  logger: Logger
  /** The origin of events written here (this node's id). */
  origin: string
}

export const RUNTIME_DEFAULTS = {
  maxActorsInMemory: 100_000,
  idleEvictMs: 5 * 60_000,
  snapshotEvery: 256,
  mailboxCapacity: 10_000,
  askTimeoutMs: 30_000,
  stopTimeoutMs: 10_000,
} as const

/** How many events apart the in-memory checkpoints used for re-folds are, and how many are kept. */
const CHECKPOINT_EVERY = 64
const MAX_CHECKPOINTS = 8

export interface AskOptions extends AbortOptions {
  /** Overrides the runtime's default ask deadline. */
  timeoutMs?: number
}

/** An actor's state as read, with where it stands in its history. */
export interface ActorView<S = unknown> {
  readonly state: S
  /** How many events have been folded into `state`. */
  readonly eventCount: number
  /** The key of the last event folded, if any. */
  readonly last?: EventKey
}

/** A typed handle on one actor. */
export interface ActorRef<D extends AnyActorDefinition> {
  readonly type: D['type']
  readonly id: string
  /** Sends a command and waits for its reply (sent once its events are durable). */
  ask<K extends CommandName<D>>(
    command: K,
    input: CommandInput<D, K>,
    options?: AskOptions,
  ): Promise<CommandReply<D, K>>
  /** Sends a command without waiting; failures show on the taps as `message.failed`. */
  tell<K extends CommandName<D>>(command: K, input: CommandInput<D, K>): void
  /** The actor's current state in this geo. */
  state(options?: AbortOptions): Promise<StateOf<D>>
}

interface CommandMessage {
  kind: 'command'
  command: string
  input: unknown
  chain: readonly string[] | undefined
  /** Where the reply goes: absent for a tell. */
  reply: PendingAsk | undefined
}

type Message =
  | CommandMessage
  | { kind: 'read'; resolve: (view: ActorView) => void; reject: (error: unknown) => void }
  | { kind: 'ingest'; events: EventRecord[] }

interface Checkpoint {
  at: EventKey
  state: unknown
  count: number
}

/** One live actor: its state, its mailbox and what it needs to re-fold. */
class ActorCell {
  state: unknown
  last: EventKey | undefined
  count = 0
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
  readonly mailbox: Mailbox<Message>

  constructor(
    readonly definition: ErasedActorDefinition,
    readonly id: string,
    readonly address: string,
    now: number,
    capacity: number,
    process: (cell: ActorCell, message: Message) => void | Promise<void>,
    onError: (error: unknown) => void,
  ) {
    this.state = definition.initialState
    this.lastUsed = now
    this.mailbox = new Mailbox<Message>((message) => process(this, message), capacity, onError)
  }
}

/**
 * The mailbox runtime: actors addressed by `(type, id)`, one message at a time per actor,
 * persist before reply, eviction and rehydration, and re-folds when replicated events
 * sort before events already applied.
 */
export class ActorRuntime implements Startable {
  private readonly definitions = new Map<string, ErasedActorDefinition>()
  private readonly cells = new Map<string, ActorCell>()
  /** The same cells by type then id: the hot lookup builds no address string. */
  private readonly cellsByType = new Map<string, Map<string, ActorCell>>()
  private readonly settings: Required<Omit<RuntimeInit, 'actors'>>
  private running = false
  private cancelSweep: (() => void) | undefined
  /** What handler contexts call back into, built once (not per message). */
  private readonly host: ContextHost
  private readonly durable: DurableEventFeed

  constructor(
    init: RuntimeInit,
    private readonly components: RuntimeComponents,
  ) {
    const { actors, ...rest } = init
    this.settings = applyDefaults<Required<Omit<RuntimeInit, 'actors'>>>(RUNTIME_DEFAULTS, rest)
    this.durable = new DurableEventFeed(components.logger)
    this.host = {
      origin: components.origin,
      hlc: components.hlc,
      now: () => this.now(),
      ask: (type, id, command, input, chain) =>
        this.askWithChain(type, id, command, input, chain, undefined),
      tell: (type, id, command, input) => this.tell(type, id, command, input),
    }
    for (const definition of actors) {
      if (this.definitions.has(definition.type))
        throw new TypeError(`actor type '${definition.type}' is registered twice`)
      this.definitions.set(definition.type, eraseActorTypes(definition))
    }
  }

  /** Every batch of events that becomes durable here, appended or ingested: what replication reads. */
  get feed(): EventFeed {
    return this.durable
  }

  /** The registered actor types. */
  get actorTypes(): readonly ErasedActorDefinition[] {
    return [...this.definitions.values()]
  }

  /** How many actors are in memory now. */
  get actorsInMemory(): number {
    return this.cells.size
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.scheduleSweep()
  }

  /** Stops taking messages, lets queued ones finish (up to `stopTimeoutMs`), then persists snapshots. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.cancelSweep?.()
    const drained = Promise.all([...this.cells.values()].map((cell) => cell.mailbox.whenIdle()))
    let cancel: (() => void) | undefined
    const timedOut = new Promise<void>((resolve) => {
      cancel = this.components.clock.setTimer(this.settings.stopTimeoutMs, resolve)
    })
    await Promise.race([drained, timedOut])
    cancel?.()
    await Promise.allSettled([...this.cells.values()].map((cell) => this.persistSnapshot(cell)))
    for (const cell of this.cells.values()) cell.evicted = true
    this.cells.clear()
    this.cellsByType.clear()
  }

  /** A typed handle on the actor `(definition.type, id)`. */
  actor<D extends AnyActorDefinition>(definition: D, id: string): ActorRef<D> {
    // The ref keeps its cell until the cell is evicted: a tell through a ref skips the lookup by address.
    let cached: ActorCell | undefined
    const cell = () => {
      if (!cached || cached.evicted || !this.running) cached = this.cellFor(definition.type, id)
      return cached
    }
    return {
      type: definition.type,
      id,
      ask: (command, input, options) =>
        this.ask(definition.type, id, command, input, options) as never,
      tell: (command, input) => this.tellCell(cell(), command, input),
      state: async (options) => (await this.read(definition.type, id, options)).state,
    }
  }

  /** Sends a command to `type/id` and waits for the reply. Untyped: the gateway's entry point. */
  ask(
    type: string,
    id: string,
    command: string,
    input: unknown,
    options?: AskOptions,
  ): Promise<unknown> {
    return this.askWithChain(type, id, command, input, undefined, options)
  }

  /** Sends a command to `type/id` without waiting for a reply. */
  tell(type: string, id: string, command: string, input: unknown): void {
    this.tellCell(this.cellFor(type, id), command, input)
  }

  private tellCell(cell: ActorCell, command: string, input: unknown): void {
    const message: Message = { kind: 'command', command, input, chain: undefined, reply: undefined }
    if (!cell.mailbox.enqueue(message)) this.reportTellFailure(cell, command, overloaded(cell))
  }

  /** The actor's state and position in its history, read through its mailbox. */
  read(type: string, id: string, options?: AskOptions): Promise<ActorView> {
    const cell = this.cellFor(type, id)
    const timeoutMs = options?.timeoutMs ?? this.settings.askTimeoutMs
    return raceAbort(
      new Promise<ActorView>((resolve, reject) => {
        // A read waits behind the actor's queued messages: it gets the same deadline as an ask.
        const cancel = this.components.clock.setTimer(timeoutMs, () =>
          reject(new AskTimeoutError(`read of ${cell.address}`, timeoutMs)),
        )
        const settle = {
          resolve: (view: ActorView) => (cancel(), resolve(view)),
          reject: (error: unknown) => (cancel(), reject(error)),
        }
        if (!cell.mailbox.enqueue({ kind: 'read', ...settle })) settle.reject(overloaded(cell))
      }),
      options?.signal,
      `read of ${cell.address}`,
    )
  }

  /**
   * Stores replicated events and brings the in-memory replicas of their actors up to date,
   * re-folding an actor when an event sorts before events it has applied.
   * Returns the events that were new to this geo.
   */
  async ingest(
    events: readonly EventRecord[],
    options?: AbortOptions & { from?: string },
  ): Promise<EventRecord[]> {
    if (events.length === 0) return []
    for (const event of events) this.components.hlc.observe(event.hlc)
    let accepted: EventRecord[]
    try {
      accepted = await this.components.store.ingest(events, options)
    } catch (error) {
      // Some may be stored all the same; a retry would then return them as known, so the
      // replicas of these actors reload from the store before their next message.
      for (const event of events) {
        const cell = this.cellsByType.get(event.actorType)?.get(event.actorId)
        if (cell) this.markStale(cell)
      }
      throw error
    }
    if (accepted.length === 0) return accepted
    this.durable.publish(
      options?.from === undefined ? { events: accepted } : { events: accepted, from: options.from },
    )
    const { taps } = this.components
    if (taps.wants('event.ingested'))
      taps.publish({
        kind: 'event.ingested',
        at: this.now(),
        events: accepted,
        from: options?.from,
      })
    const byActor = new Map<string, EventRecord[]>()
    for (const event of accepted) {
      const address = actorAddress(event.actorType, event.actorId)
      if (!this.cells.has(address)) continue
      const list = byActor.get(address)
      if (list) list.push(event)
      else byActor.set(address, [event])
    }
    for (const [address, list] of byActor) {
      const cell = this.cells.get(address)
      // A full mailbox must not lose a replicated event: the replica reloads from the store
      // (which holds the event already) before it handles its next message.
      if (cell && !cell.mailbox.enqueue({ kind: 'ingest', events: list })) this.markStale(cell)
    }
    return accepted
  }

  private askWithChain(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options: AskOptions | undefined,
  ): Promise<unknown> {
    let cell: ActorCell
    try {
      cell = this.cellFor(type, id)
    } catch (error) {
      return Promise.reject(error)
    }
    if (chain?.includes(cell.address))
      return Promise.reject(new AskCycleError([...chain, cell.address]))
    const timeoutMs = options?.timeoutMs ?? this.settings.askTimeoutMs
    const signal = options?.signal
    return new Promise<unknown>((resolve, reject) => {
      const pending = new PendingAsk(resolve, reject)
      if (signal?.aborted)
        return pending.reject(
          new AbortedError(`ask of ${cell.address}.${command}`, { cause: signal.reason }),
        )
      pending.cancelTimer = this.components.clock.setTimer(timeoutMs, () =>
        pending.reject(new AskTimeoutError(`${cell.address}.${command}`, timeoutMs)),
      )
      if (signal) pending.abortOn(signal, `ask of ${cell.address}.${command}`)
      const message: Message = { kind: 'command', command, input, chain, reply: pending }
      if (!cell.mailbox.enqueue(message)) pending.reject(overloaded(cell))
    })
  }

  private cellFor(type: string, id: string): ActorCell {
    if (!this.running) throw new NotRunningError('the actor runtime')
    let cell = this.cellsByType.get(type)?.get(id)
    // No clock read here: processing the message marks the actor used (a busy mailbox is never evicted).
    if (cell) return cell
    const definition = this.definitions.get(type)
    if (!definition) throw new UnknownActorTypeError(type)
    const address = actorAddress(type, id)
    cell = new ActorCell(
      definition,
      id,
      address,
      this.now(),
      this.settings.mailboxCapacity,
      (c, m) => this.process(c, m),
      (error) =>
        this.components.logger.error('mailbox processing failed', { actor: address, error }),
    )
    this.cells.set(address, cell)
    let ofType = this.cellsByType.get(type)
    if (!ofType) this.cellsByType.set(type, (ofType = new Map<string, ActorCell>()))
    ofType.set(id, cell)
    if (this.cells.size > this.settings.maxActorsInMemory) this.evictOverCapacity(cell)
    return cell
  }

  private process(cell: ActorCell, message: Message): void | Promise<void> {
    if (cell.ready) return this.processLoaded(cell, message)
    // The first message waits for the rehydration; after it the path stays synchronous where it can.
    cell.loading ??= this.rehydrate(cell)
    const generation = cell.generation
    return cell.loading.then(
      () => {
        // Marked stale while loading (a replicated event it may not have read): load again.
        if (cell.generation !== generation) return this.process(cell, message)
        cell.ready = true
        return this.processLoaded(cell, message)
      },
      (error: unknown) => {
        cell.loading = undefined
        failMessage(message, error)
      },
    )
  }

  private processLoaded(cell: ActorCell, message: Message): void | Promise<void> {
    // Only the last queued message reads the clock: once the mailbox is idle, lastUsed is still
    // the start of the last message handled, and a burst of messages costs one clock read.
    if (cell.mailbox.size === 0) cell.lastUsed = this.now()
    if (cell.lateFrom && message.kind !== 'ingest')
      return this.refold(cell, cell.lateFrom).then(
        () => this.processLoaded(cell, message),
        (error: unknown) => failMessage(message, error),
      )
    switch (message.kind) {
      case 'read':
        message.resolve({ state: cell.state, eventCount: cell.count, last: cell.last })
        return
      case 'ingest':
        return this.applyIngested(cell, message.events)
      case 'command':
        return this.handleCommand(cell, message)
    }
  }

  private handleCommand(cell: ActorCell, message: CommandMessage): void | Promise<void> {
    const { taps } = this.components
    const { definition } = cell
    const actor =
      taps.wants('message.received') ||
      taps.wants('message.handled') ||
      taps.wants('message.failed')
        ? { type: definition.type, id: cell.id }
        : undefined
    const started = actor ? this.now() : 0
    if (actor)
      taps.publish({ kind: 'message.received', at: started, actor, command: message.command })
    const command = definition.commands[message.command]
    if (!command)
      return this.failCommand(
        message,
        actor,
        new UnknownCommandError(definition.type, message.command, Object.keys(definition.commands)),
      )
    const parsed = command.input.safeParse(message.input)
    if (!parsed.success)
      return this.failCommand(
        message,
        actor,
        new ValidationError(
          `invalid input for ${definition.type}.${message.command}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
          parsed.error.issues,
        ),
      )
    const ctx = new HandlerContext(this.host, cell, message.chain)
    let result: unknown
    try {
      result = command.handle(ctx, parsed.data)
    } catch (error) {
      return this.failCommand(message, actor, handlerError(cell, message.command, error))
    }
    if (isPromiseLike(result))
      return Promise.resolve(result).then(
        (reply) => this.finishCommand(cell, message, ctx, actor, started, reply),
        (error: unknown) => {
          ctx.close()
          this.failCommand(message, actor, handlerError(cell, message.command, error))
        },
      )
    return this.finishCommand(cell, message, ctx, actor, started, result)
  }

  /** Persists what the handler emitted, then replies. */
  private finishCommand(
    cell: ActorCell,
    message: CommandMessage,
    ctx: HandlerContext,
    actor: TapActor | undefined,
    started: number,
    reply: unknown,
  ): void | Promise<void> {
    ctx.close()
    const { drafts } = ctx
    if (drafts === undefined) {
      if (actor) this.publishHandled(actor, message.command, started, 0)
      message.reply?.resolve(reply)
      return
    }
    return this.persist(cell, drafts).then(
      () => {
        if (actor) this.publishHandled(actor, message.command, started, drafts.length)
        message.reply?.resolve(reply)
      },
      (error: unknown) => this.failCommand(message, actor, error),
    )
  }

  private failCommand(message: CommandMessage, actor: TapActor | undefined, error: unknown): void {
    if (actor) {
      const e = error instanceof Error ? error : new AnywhereError(String(error))
      this.components.taps.publish({
        kind: 'message.failed',
        at: this.now(),
        actor,
        command: message.command,
        error: e.name,
        message: e.message,
      })
    }
    message.reply?.reject(error)
  }

  private publishHandled(actor: TapActor, command: string, started: number, emitted: number) {
    this.components.taps.publish({
      kind: 'message.handled',
      at: this.now(),
      actor,
      command,
      durationMs: this.now() - started,
      emitted,
    })
  }

  /** Appends the drafts, then folds the stored records (with their seqs) into the actor. */
  private async persist(cell: ActorCell, drafts: EventDraft[]): Promise<void> {
    let records: EventRecord[]
    try {
      records = await this.components.store.append(drafts)
    } catch (error) {
      // The append may have landed all the same (a reply lost after the write): the replica
      // reloads from the store before its next message rather than trust what it holds.
      this.markStale(cell)
      throw error
    }
    this.durable.publish({ events: records })
    const { taps } = this.components
    if (taps.wants('event.appended'))
      taps.publish({ kind: 'event.appended', at: this.now(), events: records })
    // Only a re-fold is asynchronous: the common in-order fold costs no extra promise turn.
    const refolding = this.fold(cell, records)
    if (refolding) await refolding
  }

  /** Folds events that are known to be new to this actor, re-folding if any sorts before its last. */
  private fold(cell: ActorCell, events: EventRecord[]): void | Promise<void> {
    let first = events[0]!
    for (const e of events) if (compareEventKeys(e, first) < 0) first = e
    if (cell.last && compareEventKeys(first, cell.last) < 0) return this.refold(cell, first)
    if (events.length > 1) events = [...events].sort(compareEventKeys)
    for (const event of events) this.applyOne(cell, event)
  }

  /**
   * Folds replicated events the store has just taken. An event that sorts after everything
   * folded is new and is applied. One that sorts before the last folded event is either late
   * or was already folded by a load that read the store after it took the event; either way
   * a re-fold from before it (which reads the store) is right, so it is scheduled.
   */
  private applyIngested(cell: ActorCell, events: EventRecord[]): void {
    let first = events[0]!
    for (const e of events) if (compareEventKeys(e, first) < 0) first = e
    // Late events wait for one re-fold on next use; the store holds them (and any that follow).
    if (cell.lateFrom) {
      if (compareEventKeys(first, cell.lateFrom) < 0) cell.lateFrom = first
      return
    }
    if (cell.last && compareEventKeys(first, cell.last) <= 0) {
      cell.lateFrom = first
      return
    }
    if (events.length > 1) events = [...events].sort(compareEventKeys)
    for (const event of events) this.applyOne(cell, event)
  }

  private applyOne(cell: ActorCell, event: EventRecord): void {
    // Events written here were validated when emitted; others may come from a geo that runs
    // another version of the actor. One this node cannot apply stays stored (it replicates
    // on) and counted, but leaves the state as it is, and is reported.
    const definition = cell.definition
    let skipped: string | undefined
    if (event.origin !== this.components.origin) {
      const schema = definition.events[event.type]
      if (!schema) skipped = `this node's '${definition.type}' declares no event '${event.type}'`
      else if (!schema.safeParse(event.payload).success)
        skipped = `its payload does not match this node's schema of '${event.type}'`
    }
    if (skipped === undefined) {
      try {
        const next = definition.apply(cell.state, event)
        if (next === undefined) skipped = `apply returned undefined for '${event.type}'`
        else cell.state = next
      } catch (error) {
        skipped = `apply threw: ${error instanceof Error ? error.message : String(error)}`
      }
    }
    if (skipped !== undefined) this.reportUnapplied(cell, event, skipped)
    cell.last = eventKey(event)
    cell.count++
    cell.sinceSnapshot++
    if (cell.count % CHECKPOINT_EVERY === 0) {
      cell.checkpoints.push({
        at: cell.last,
        state: cell.state,
        count: cell.count,
      })
      if (cell.checkpoints.length > MAX_CHECKPOINTS) cell.checkpoints.shift()
    }
    // After failed attempts, wait twice as many events each time before trying again.
    if (cell.sinceSnapshot >= this.settings.snapshotEvery << Math.min(cell.snapshotFailures, 10))
      void this.persistSnapshot(cell)
  }

  /** Re-folds the actor from the newest checkpoint before `late` (or from scratch). */
  private async refold(cell: ActorCell, late: EventRecord): Promise<void> {
    while (cell.checkpoints.length > 0 && compareEventKeys(cell.checkpoints.at(-1)!.at, late) >= 0)
      cell.checkpoints.pop()
    const base = cell.checkpoints.at(-1)
    const events = await this.components.store.readActor(
      cell.definition.type,
      cell.id,
      base ? { after: base.at } : {},
    )
    cell.state = base ? base.state : cell.definition.initialState
    cell.count = base ? base.count : 0
    cell.last = base?.at
    cell.lateFrom = undefined
    for (const event of events) {
      // A command on this actor must sort after every event it has read, whatever the wall clock says.
      this.components.hlc.observe(event.hlc)
      this.applyOne(cell, event)
    }
    const { taps } = this.components
    if (taps.wants('event.reordered'))
      taps.publish({
        kind: 'event.reordered',
        at: this.now(),
        actor: { type: cell.definition.type, id: cell.id },
        event: late,
        refolded: events.length,
      })
  }

  private async rehydrate(cell: ActorCell): Promise<void> {
    const { store, taps } = this.components
    const { type } = cell.definition
    const snapshot = await store.loadSnapshot(type, cell.id)
    const events = await store.readActor(type, cell.id, snapshot ? { after: snapshot.at } : {})
    cell.state = cell.definition.initialState
    cell.count = 0
    cell.last = undefined
    cell.checkpoints = []
    cell.lateFrom = undefined
    if (snapshot) {
      cell.state = snapshot.state
      cell.count = snapshot.eventCount
      cell.last = snapshot.at
      cell.checkpoints.push({
        at: snapshot.at,
        state: snapshot.state,
        count: snapshot.eventCount,
      })
    }
    for (const event of events) {
      // A command on this actor must sort after every event it has read, whatever the wall clock says.
      this.components.hlc.observe(event.hlc)
      this.applyOne(cell, event)
    }
    cell.sinceSnapshot = events.length
    if (taps.wants('actor.rehydrated') && (snapshot || events.length > 0))
      taps.publish({
        kind: 'actor.rehydrated',
        at: this.now(),
        actor: { type, id: cell.id },
        events: events.length,
        fromSnapshot: snapshot !== undefined,
      })
  }

  private async persistSnapshot(cell: ActorCell): Promise<void> {
    // A state waiting for a re-fold is not the fold of the events up to its last key.
    if (cell.sinceSnapshot === 0 || !cell.last || cell.lateFrom) return
    const pending = cell.sinceSnapshot
    cell.sinceSnapshot = 0
    try {
      await this.components.store.saveSnapshot({
        actorType: cell.definition.type,
        actorId: cell.id,
        state: cell.state,
        at: cell.last,
        eventCount: cell.count,
      })
      cell.snapshotFailures = 0
    } catch (error) {
      cell.snapshotFailures++
      cell.sinceSnapshot += pending
      this.components.logger.warn(
        'could not persist a snapshot; the actor will re-fold from older events',
        { actor: cell.address, error },
      )
    }
  }

  private scheduleSweep(): void {
    const every = Math.max(1_000, Math.floor(this.settings.idleEvictMs / 2))
    this.cancelSweep = this.components.clock.setTimer(every, () => {
      this.sweepIdle()
      if (this.running) this.scheduleSweep()
    })
  }

  private sweepIdle(): void {
    const cutoff = this.now() - this.settings.idleEvictMs
    for (const cell of this.cells.values())
      if (cell.lastUsed <= cutoff && cell.mailbox.idle) this.evict(cell, 'idle')
  }

  /** Evicts idle cells, oldest first, down to the bound; never `keep` (the cell being handed out). */
  private evictOverCapacity(keep: ActorCell): void {
    // Map iteration is insertion order: the oldest-loaded cells come first. When every other
    // cell is busy the bound is exceeded for a while rather than evicting a cell in use.
    for (const cell of this.cells.values()) {
      if (this.cells.size <= this.settings.maxActorsInMemory) return
      if (cell !== keep && cell.mailbox.idle) this.evict(cell, 'capacity')
    }
  }

  /** The replica reloads from the store before it handles its next message. */
  private markStale(cell: ActorCell): void {
    cell.ready = false
    cell.loading = undefined
    cell.generation++
  }

  private evict(cell: ActorCell, reason: 'idle' | 'capacity'): void {
    if (!cell.mailbox.idle) return
    this.cells.delete(cell.address)
    this.cellsByType.get(cell.definition.type)?.delete(cell.id)
    cell.evicted = true
    void this.persistSnapshot(cell)
    const { taps } = this.components
    if (taps.wants('actor.evicted'))
      taps.publish({
        kind: 'actor.evicted',
        at: this.now(),
        actor: { type: cell.definition.type, id: cell.id },
        reason,
      })
  }

  private reportUnapplied(cell: ActorCell, event: EventRecord, reason: string): void {
    this.components.logger.warn('an event was kept but not applied', {
      actor: cell.address,
      event: `${event.origin}:${event.seq}`,
      reason,
    })
    const { taps } = this.components
    if (taps.wants('event.unapplied'))
      taps.publish({
        kind: 'event.unapplied',
        at: this.now(),
        actor: { type: cell.definition.type, id: cell.id },
        event,
        reason,
      })
  }

  private reportTellFailure(cell: ActorCell, command: string, error: Error): void {
    const { taps } = this.components
    if (taps.wants('message.failed'))
      taps.publish({
        kind: 'message.failed',
        at: this.now(),
        actor: { type: cell.definition.type, id: cell.id },
        command,
        error: error.name,
        message: error.message,
      })
  }

  private now(): number {
    return this.components.clock.now()
  }
}

/** What a handler's context needs from its runtime. */
interface ContextHost {
  readonly origin: string
  readonly hlc: HybridLogicalClock
  now(): number
  ask(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[],
  ): Promise<unknown>
  tell(type: string, id: string, command: string, input: unknown): void
}

/**
 * The context of one handler call. A class rather than an object of closures: one
 * allocation per message instead of six (on the hot path of every ask and tell).
 */
class HandlerContext implements ActorContext<unknown, never> {
  /** The events emitted so far, persisted before the reply. */
  /** Allocated on the first emit: most messages emit nothing. */
  drafts: EventDraft[] | undefined
  private current: unknown
  private open = true

  constructor(
    private readonly host: ContextHost,
    private readonly cell: ActorCell,
    private readonly chain: readonly string[] | undefined,
  ) {
    this.current = cell.state
  }

  /** The state with this handler's events applied. */
  get state(): unknown {
    return this.current
  }

  get actorType(): string {
    return this.cell.definition.type
  }

  get actorId(): string {
    return this.cell.id
  }

  emit(type: string, payload: unknown): void {
    const { cell } = this
    const { definition } = cell
    if (!this.open)
      throw new ValidationError(
        `emit after ${cell.address}'s handler returned: emit before returning (or awaiting) the reply`,
        [],
      )
    const schema = definition.events[type]
    if (!schema)
      throw new ValidationError(`actor type '${definition.type}' declares no event '${type}'`, [])
    const parsed = schema.safeParse(payload)
    if (!parsed.success)
      throw new ValidationError(
        `invalid payload for event '${type}' of ${definition.type}: ${parsed.error.message}`,
        parsed.error.issues,
      )
    assertStorablePayload(parsed.data, `event '${type}' of ${definition.type}`)
    const draft: EventDraft = {
      actorType: definition.type,
      actorId: cell.id,
      origin: this.host.origin,
      hlc: this.host.hlc.now(),
      type,
      payload: parsed.data,
    }
    ;(this.drafts ??= []).push(draft)
    this.current = definition.apply(this.current, { ...draft, seq: 0 })
  }

  ask(target: AnyActorDefinition, id: string, command: string, input: unknown): Promise<never> {
    const address = this.cell.address
    const chain = this.chain ? [...this.chain, address] : [address]
    return this.host.ask(target.type, id, command, input, chain) as Promise<never>
  }

  tell(target: AnyActorDefinition, id: string, command: string, input: unknown): void {
    this.host.tell(target.type, id, command, input)
  }

  now(): number {
    return this.host.now()
  }

  /** Called when the handler has returned: a later `emit` is refused. */
  close(): void {
    this.open = false
  }
}

/** The caller's side of an ask: settles once, cancels its deadline and abort listener when it does. */
class PendingAsk {
  cancelTimer: (() => void) | undefined
  private settled = false
  private signal: AbortSignal | undefined
  private onAbort: (() => void) | undefined

  constructor(
    private readonly settleResolve: (reply: unknown) => void,
    private readonly settleReject: (error: unknown) => void,
  ) {}

  /** Rejects with AbortedError when `signal` aborts first. */
  abortOn(signal: AbortSignal, what: string): void {
    this.signal = signal
    this.onAbort = () => this.reject(new AbortedError(what, { cause: signal.reason }))
    signal.addEventListener('abort', this.onAbort, { once: true })
  }

  resolve(reply: unknown): void {
    if (this.finish()) this.settleResolve(reply)
  }

  reject(error: unknown): void {
    if (this.finish()) this.settleReject(error)
  }

  private finish(): boolean {
    if (this.settled) return false
    this.settled = true
    this.cancelTimer?.()
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort)
    return true
  }
}

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
  return new HandlerError(cell.definition.type, cell.id, command, error)
}

function overloaded(cell: ActorCell): OverloadedError {
  return new OverloadedError(
    `the mailbox of ${cell.address} is full (${cell.mailbox.capacity} messages): retry later`,
  )
}

function failMessage(message: Message, error: unknown): void {
  if (message.kind === 'read') message.reject(error)
  else if (message.kind === 'command') message.reply?.reject(error)
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}
