import type { ActorContext, AnyActorDefinition } from '../actor.js'
import { issuesText, ValidationError } from '../errors.js'
import { assertStorablePayload, type EventDraft } from '../event.js'
import type { Hlc, HybridLogicalClock } from '../hlc.js'
import type { ActorCell } from './actor-cell.js'
import { KEYED_EVENT, type KeyedCommand, type KeyedPayload } from './idempotency-ledger.js'

/** What a handler's context needs from its runtime. */
export interface ContextHost {
  /** The origin of the events emitted here. */
  readonly origin: string
  /** Stamps each emitted event. */
  readonly hlc: HybridLogicalClock
  /** The runtime clock's time in ms. */
  now(): number
  /** Asks another actor in this geo, `chain` being the asks this one is nested in. */
  ask(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[],
  ): Promise<unknown>
  /** Tells another actor in this geo. */
  tell(type: string, id: string, command: string, input: unknown): void
}

/**
 * The context of one handler call. A class rather than an object of closures: one
 * allocation per message instead of six (on the hot path of every ask and tell).
 */
export class HandlerContext implements ActorContext<unknown, never> {
  /** The events emitted so far, persisted before the reply. */
  /** Allocated on the first emit: most messages emit nothing. */
  drafts: EventDraft[] | undefined
  private current: unknown
  private open = true
  /** The stamp of a keyed command's `$keyed` event: taken before its first event's, so it sorts first. */
  private keyedStamp: Hlc | undefined

  constructor(
    private readonly host: ContextHost,
    private readonly cell: ActorCell,
    private readonly chain: readonly string[] | undefined,
    private readonly keyed?: KeyedCommand,
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
      )
    const schema = definition.events[type]
    if (!schema)
      throw new ValidationError(`actor type '${definition.type}' declares no event '${type}'`)
    const parsed = schema.safeParse(payload)
    if (!parsed.success)
      throw new ValidationError(
        `invalid payload for event '${type}' of ${definition.type}: ${issuesText(parsed.error.issues)}`,
        { issues: parsed.error.issues },
      )
    assertStorablePayload(parsed.data, `event '${type}' of ${definition.type}`)
    if (this.keyed && !this.keyedStamp) this.keyedStamp = this.host.hlc.now()
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

  /**
   * A keyed command's drafts: its `$keyed` event (the key, the command's fingerprint, its
   * reply and how many events follow), then the events it emitted. Throws a ValidationError
   * when the reply is not one an event can hold.
   */
  keyedDrafts(keyed: KeyedCommand, reply: unknown): EventDraft[] {
    const { definition, id } = this.cell
    const events = this.drafts ?? []
    const payload: KeyedPayload = {
      key: keyed.key,
      fingerprint: keyed.fingerprint,
      events: events.length,
      ...(reply === undefined ? {} : { reply }),
    }
    assertStorablePayload(payload, `the reply of a command with an idempotency key`)
    const marker: EventDraft = {
      actorType: definition.type,
      actorId: id,
      origin: this.host.origin,
      hlc: this.keyedStamp ?? this.host.hlc.now(),
      type: KEYED_EVENT,
      payload,
    }
    return [marker, ...events]
  }

  /** Called when the handler has returned: a later `emit` is refused. */
  close(): void {
    this.open = false
  }
}
