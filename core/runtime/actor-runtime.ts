import { eraseActorTypes, type AnyActorDefinition, type ErasedActorDefinition } from '../actor.js'
import {
  AskTimeoutError,
  NotRunningError,
  UnknownActorTypeError,
  ValidationError,
  notRunningMessage,
} from '../errors.js'
import { actorAddress, type EventRecord } from '../event.js'
import { DurableEventFeed, type EventFeed } from '../event-feed.js'
import type { Hlc } from '../hlc.js'
import type { AbortOptions, Startable } from '../lifecycle.js'
import { raceAbort } from '../../support/abort.js'
import { parseInit } from '../../support/options.js'
import { ActorCell, type MailboxItem, type Message } from './actor-cell.js'
import { askCycle, overloaded, unknownActorType } from './refusals.js'
import type { ActorRef, ActorView } from './actor-ref.js'
import { CommandProcessor } from './command-processor.js'
import { MessageLoop } from './message-loop.js'
import { GeoRouter, type ForwardedActors } from './geo-router.js'
import type { ContextHost } from './handler-context.js'
import {
  commandFingerprint,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  type KeyedCommand,
} from './idempotency-ledger.js'
import {
  runtimeSettingsSchema,
  type AskOptions,
  type KeyedAskOptions,
  type RuntimeComponents,
  type RuntimeInit,
  type RuntimeSettings,
} from './options.js'
import { PendingAsk } from './pending-ask.js'
import { ReplicaEngine } from './replica.js'
import { ReplicatedEvents } from './replicated-events.js'
import { ResidentCells } from './resident-cells.js'
import { RuntimeTaps } from './runtime-taps.js'

/**
 * The mailbox runtime: actors addressed by `(type, id)`, one message at a time per actor,
 * persist before reply, eviction and rehydration, and re-folds when replicated events
 * sort before events already applied.
 */
export class ActorRuntime implements Startable {
  private readonly definitions = new Map<string, ErasedActorDefinition>()
  private readonly cells: ResidentCells
  private readonly settings: RuntimeSettings
  private running = false
  private readonly durable: DurableEventFeed
  private readonly replicated: ReplicatedEvents
  private readonly taps: RuntimeTaps
  private readonly replica: ReplicaEngine
  private readonly commands: CommandProcessor
  private readonly loop: MessageLoop
  private readonly unknownActorHint: RuntimeInit['unknownActorHint']
  /** Present in a geo of several nodes: sends each message to its actor's owner. */
  private readonly router: GeoRouter | undefined

  constructor(
    init: RuntimeInit,
    private readonly components: RuntimeComponents,
  ) {
    const { actors, unknownActorHint, ...rest } = init
    this.unknownActorHint = unknownActorHint
    this.settings = parseInit(runtimeSettingsSchema, rest, 'runtime')
    this.durable = new DurableEventFeed(components.logger)
    this.taps = new RuntimeTaps(components.taps, components.clock, components.stats)
    this.replica = new ReplicaEngine(components, this.taps, this.settings.snapshotEvery, {
      retentionMs: this.settings.idempotencyRetentionMs,
      keysPerActor: this.settings.idempotencyKeysPerActor,
    })
    this.cells = new ResidentCells(this.settings, components.clock, this.replica, this.taps)
    this.replicated = new ReplicatedEvents(components, this.cells, this.durable, this.taps)
    // What handler contexts call back into, built once (not per message).
    const host: ContextHost = {
      origin: components.origin,
      hlc: components.hlc,
      now: () => this.now(),
      ask: (type, id, command, input, chain) =>
        this.router
          ? this.router.ask(type, id, command, input, chain, undefined)
          : this.askWithChain(type, id, command, input, chain, undefined),
      tell: (type, id, command, input) => this.tell(type, id, command, input),
    }
    this.commands = new CommandProcessor(
      host,
      components.store,
      components.clock,
      this.durable,
      this.replica,
      this.taps,
    )
    this.loop = new MessageLoop(this.commands, this.replica, components.clock, components.placement)
    const { placement } = components
    this.router = placement
      ? new GeoRouter(
          placement,
          {
            askHere: (type, id, command, input, chain, options, keyed) =>
              this.askWithChain(type, id, command, input, chain, options, keyed),
            readHere: (type, id, options) => this.readLocal(type, id, options),
            tellHere: (type, id, command, input) =>
              this.tellCell(this.cellFor(type, id), command, input),
          },
          components.clock,
          components.logger,
          this.settings.askTimeoutMs,
        )
      : undefined
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

  /** Messages waiting in the mailboxes of the actors in memory (a scrape reads it; it walks them all). */
  mailboxBacklog(): number {
    let queued = 0
    for (const cell of this.cells.values()) queued += cell.mailbox.size
    return queued
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.cells.startSweep()
  }

  /** Stops taking messages, lets queued ones finish (up to `stopTimeoutMs`), then persists snapshots. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.cells.stopSweep()
    const drained = Promise.all([...this.cells.values()].map((cell) => cell.whenIdle()))
    let cancel: (() => void) | undefined
    const timedOut = new Promise<void>((resolve) => {
      cancel = this.components.clock.setTimer(this.settings.stopTimeoutMs, resolve)
    })
    await Promise.race([drained, timedOut])
    cancel?.()
    await Promise.allSettled(
      [...this.cells.values()].map((cell) => this.replica.persistSnapshot(cell)),
    )
    this.cells.clear()
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
      tell: (command, input) =>
        this.router
          ? this.router.tell(definition.type, id, command, input)
          : this.tellCell(cell(), command, input),
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
    if (this.router) return this.router.ask(type, id, command, input, undefined, options)
    return this.askWithChain(type, id, command, input, undefined, options)
  }

  /**
   * Sends a command with an idempotency key and waits for the reply: the same key with the
   * same command and input on this actor runs once, in any geo that holds its events and
   * across restarts, within the retention window (a retry gets the first reply, `replayed`).
   * The same key with another command or input is refused with IdempotencyKeyReusedError.
   */
  async askKeyed(
    type: string,
    id: string,
    command: string,
    input: unknown,
    options: KeyedAskOptions,
  ): Promise<{ reply: unknown; replayed: boolean }> {
    const key = options.idempotencyKey
    if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
      throw new ValidationError(
        `an idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
      )
    const keyed: KeyedCommand = {
      key,
      fingerprint: commandFingerprint(command, input),
      replayed: false,
    }
    const reply = this.router
      ? await this.router.ask(type, id, command, input, undefined, options, keyed)
      : await this.askWithChain(type, id, command, input, undefined, options, keyed)
    return { reply, replayed: keyed.replayed }
  }

  /** Sends a command to `type/id` without waiting for a reply. */
  tell(type: string, id: string, command: string, input: unknown): void {
    if (this.router) return this.router.tell(type, id, command, input)
    this.tellCell(this.cellFor(type, id), command, input)
  }

  private tellCell(cell: ActorCell, command: string, input: unknown): void {
    if (!cell.mailbox.enqueue(command, input)) {
      if (cell.stats) cell.stats.failed++
      this.taps.tellRefused(cell, command, overloaded(cell))
    }
  }

  /** In a geo of several nodes: the messages other nodes forward here, served here or refused. */
  get forwarded(): ForwardedActors | undefined {
    return this.router
  }

  /**
   * The view of the geo changed: the actors held here that another node owns now (every
   * actor, when this node's membership had lapsed) reload before their next message.
   */
  placementChanged(everyActor = false): void {
    this.router?.relinquish(this.cells.values(), everyActor)
  }

  /** The actor's state and position in its history, read through its mailbox. */
  read(type: string, id: string, options?: AskOptions): Promise<ActorView> {
    if (this.router) return this.router.read(type, id, options)
    return this.readLocal(type, id, options)
  }

  private readLocal(type: string, id: string, options?: AskOptions): Promise<ActorView> {
    const cell = this.cellFor(type, id)
    const timeoutMs = options?.timeoutMs ?? this.settings.askTimeoutMs
    return raceAbort(
      new Promise<ActorView>((resolve, reject) => {
        // A read waits behind the actor's queued messages: it gets the same deadline as an ask.
        const cancel = this.components.clock.setTimer(timeoutMs, () =>
          reject(
            new AskTimeoutError(`no reply from read of ${cell.address} within ${timeoutMs} ms`),
          ),
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
   * The events of `type/id` held here, in merge order: why its state is what it is. Read
   * from the store (not through the mailbox): it may include replicated events the replica
   * in memory folds on its next message.
   */
  history(type: string, id: string, options?: AbortOptions): Promise<EventRecord[]> {
    if (!this.definitions.has(type))
      return Promise.reject(
        new UnknownActorTypeError(
          `unknown actor type '${type}': register it with defineActor() in the node's actors`,
        ),
      )
    return this.components.store.readActor(type, id, options ?? {})
  }

  /**
   * Stores replicated events and brings the in-memory replicas of their actors up to date,
   * re-folding an actor when an event sorts before events it has applied.
   * Returns the events that were new to this geo.
   */
  ingest(
    events: readonly EventRecord[],
    options?: AbortOptions & { from?: string },
  ): Promise<EventRecord[]> {
    return this.replicated.ingest(events, options)
  }

  /** Events the geo's other nodes stored, read back from the shared store (see `ReplicatedEvents`). */
  observeStored(events: readonly EventRecord[]): void {
    this.replicated.observeStored(events)
  }

  /** Whether an event stamped `stamp` may be stored now: not when it is beyond the clock's skew bound. */
  acceptsStamp(stamp: Hlc): boolean {
    return this.components.hlc.withinSkew(stamp)
  }

  private askWithChain(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options: AskOptions | undefined,
    keyed?: KeyedCommand,
  ): Promise<unknown> {
    let cell: ActorCell
    try {
      cell = this.cellFor(type, id)
    } catch (error) {
      return Promise.reject(error)
    }
    if (chain?.includes(cell.address)) return Promise.reject(askCycle([...chain, cell.address]))
    const timeoutMs = options?.timeoutMs ?? this.settings.askTimeoutMs
    const signal = options?.signal
    return new Promise<unknown>((resolve, reject) => {
      const pending = new PendingAsk(resolve, reject)
      pending.abortOn(signal, `ask of ${cell.address}.${command}`)
      if (signal?.aborted) return
      pending.cancelTimer = this.components.clock.setTimer(timeoutMs, () =>
        pending.reject(
          new AskTimeoutError(`no reply from ${cell.address}.${command} within ${timeoutMs} ms`),
        ),
      )
      const message: Message = { kind: 'command', command, input, chain, reply: pending }
      if (keyed) message.keyed = keyed
      if (!cell.mailbox.enqueue(message)) {
        if (cell.stats) cell.stats.failed++
        pending.reject(overloaded(cell))
      }
    })
  }

  private cellFor(type: string, id: string): ActorCell {
    if (!this.running) throw new NotRunningError(notRunningMessage('the actor runtime'))
    const cell = this.cells.get(type, id)
    // No clock read here: processing the message marks the actor used (a busy mailbox is never evicted).
    if (cell) return cell
    const definition = this.definitions.get(type)
    if (!definition)
      throw unknownActorType(type, [...this.definitions.keys()], this.unknownActorHint?.(type))
    const address = actorAddress(type, id)
    const created = new ActorCell(
      definition,
      id,
      address,
      this.now(),
      this.settings.mailboxCapacity,
      this.processMessage,
      this.mailboxFailed,
    )
    created.stats = this.components.stats?.forType(type)
    this.cells.add(created)
    return created
  }

  private now(): number {
    return this.components.clock.now()
  }

  // Shared by every cell: two closures per actor in memory less (a million actors, 150 MB).
  private readonly processMessage = (cell: ActorCell, item: MailboxItem, input: unknown) =>
    this.loop.process(cell, item, input)

  private readonly mailboxFailed = (cell: ActorCell, error: unknown) =>
    this.components.logger.error('mailbox processing failed', { actor: cell.address, error })
}
