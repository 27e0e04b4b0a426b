// Routing of messages inside a geo of several nodes: a message goes to the node that owns its
// actor, and is retried (at whichever node owns it then) only when it surely did not run.
import type { Clock } from '../clock.js'
import { AskTimeoutError, FencedError, MemberUnreachableError, NotOwnerError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ActorCell } from './actor-cell.js'
import type { ActorPlacement } from '../placement/placement.js'
import type { ActorView } from './actor-ref.js'
import { commandFingerprint, type KeyedCommand } from './idempotency-ledger.js'
import type { AskOptions } from './options.js'

/** What the router runs on this node when it owns the actor. */
export interface LocalActors {
  /** Runs the ask here. */
  askHere(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options: AskOptions,
    keyed?: KeyedCommand,
  ): Promise<unknown>
  /** Reads the actor here. */
  readHere(type: string, id: string, options: AskOptions): Promise<ActorView>
  /** Queues a tell here. */
  tellHere(type: string, id: string, command: string, input: unknown): void
}

/**
 * The messages another node of the geo forwarded here: each is served here, or refused with
 * NotOwnerError when this node does not own its actor (never forwarded again).
 */
export interface ForwardedActors {
  /** Runs a forwarded ask here (with the idempotency key it was sent with, if any). */
  askForwarded(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options?: AskOptions,
    idempotencyKey?: string,
  ): Promise<{ value: unknown; replayed: boolean }>
  /** Reads an actor here for another node. */
  readForwarded(type: string, id: string, options?: AskOptions): Promise<ActorView>
  /** Queues a forwarded tell here. */
  tellForwarded(type: string, id: string, command: string, input: unknown): void
}

/** The first wait before a retry; it doubles up to MAX_RETRY_WAIT_MS (or a view change ends it). */
const FIRST_RETRY_WAIT_MS = 25
const MAX_RETRY_WAIT_MS = 400

/** Errors that say the message surely did not run: it may be sent again. */
function retryable(error: unknown): boolean {
  return (
    error instanceof NotOwnerError ||
    error instanceof FencedError ||
    error instanceof MemberUnreachableError
  )
}

/**
 * Sends each message to its actor's owner: here, or once over the geo's channel to another
 * node (which never forwards it again). A message refused unrun (the node does not own the
 * actor, the store fenced its append, the owner could not be reached) is retried after the
 * view of the geo changes or a short wait, until the ask's deadline: in-flight messages to
 * an actor that moves are served by its new owner, not lost.
 */
export class GeoRouter implements ForwardedActors {
  constructor(
    private readonly placement: ActorPlacement,
    private readonly local: LocalActors,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly askTimeoutMs: number,
  ) {}

  /** Asks `type/id` wherever it lives; a keyed ask carries its key to the owner, which checks it. */
  ask(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options: AskOptions | undefined,
    keyed?: KeyedCommand,
  ): Promise<unknown> {
    const request = {
      type,
      id,
      command,
      input,
      ...(chain ? { chain } : {}),
      ...(keyed ? { idempotencyKey: keyed.key } : {}),
    }
    return this.retrying(type, id, `${type}/${id}.${command}`, options, (owner, attempt) =>
      owner === this.placement.selfId
        ? this.local.askHere(type, id, command, input, chain, attempt, keyed)
        : this.placement.remote.ask(owner, request, attempt).then((reply) => {
            if (keyed && reply.replayed) keyed.replayed = true
            return reply.value
          }),
    )
  }

  /** Reads `type/id` wherever it lives. */
  read(type: string, id: string, options: AskOptions | undefined): Promise<ActorView> {
    return this.retrying(type, id, `read of ${type}/${id}`, options, (owner, attempt) =>
      owner === this.placement.selfId
        ? this.readOwned(type, id, attempt)
        : this.placement.remote.read(owner, type, id, attempt),
    )
  }

  /** Tells `type/id` wherever it lives; a tell that cannot be delivered is logged. */
  tell(type: string, id: string, command: string, input: unknown): void {
    const owner = this.placement.ownerOf(type, id)
    if (owner === this.placement.selfId) return this.local.tellHere(type, id, command, input)
    this.retrying(type, id, `tell ${type}/${id}.${command}`, undefined, async (node) => {
      if (node === this.placement.selfId) return this.local.tellHere(type, id, command, input)
      return this.placement.remote.tell(node, { type, id, command, input })
    }).catch((error: unknown) =>
      this.logger.warn('a tell to another node of the geo was not delivered', {
        actor: `${type}/${id}`,
        command,
        error,
      }),
    )
  }

  askForwarded(
    type: string,
    id: string,
    command: string,
    input: unknown,
    chain: readonly string[] | undefined,
    options?: AskOptions,
    idempotencyKey?: string,
  ): Promise<{ value: unknown; replayed: boolean }> {
    const refused = this.refuseUnowned(type, id)
    if (refused) return Promise.reject(refused)
    const keyed: KeyedCommand | undefined =
      idempotencyKey === undefined
        ? undefined
        : { key: idempotencyKey, fingerprint: commandFingerprint(command, input), replayed: false }
    return this.local
      .askHere(type, id, command, input, chain, options ?? {}, keyed)
      .then((value) => ({ value, replayed: keyed?.replayed ?? false }))
  }

  readForwarded(type: string, id: string, options?: AskOptions): Promise<ActorView> {
    const refused = this.refuseUnowned(type, id)
    if (refused) return Promise.reject(refused)
    return this.readOwned(type, id, options ?? {})
  }

  /**
   * Reads an actor this node owns, answered only if the node still surely holds its claim once
   * the read is done: a node that lost the actor without knowing (paused, cut off from Redis
   * past the membership timeout) must not answer from its stale replica. The refusal is
   * NotOwnerError: the read ran nothing, and is retried at whichever node owns the actor then.
   */
  private async readOwned(type: string, id: string, options: AskOptions): Promise<ActorView> {
    const view = await this.local.readHere(type, id, options)
    const { placement } = this
    if (!placement.holdsClaims())
      throw new NotOwnerError(
        `node ${placement.selfId} is not sure it still owns ${type}/${id} (no renewal of its membership answered within the timeout): read it at its owner`,
      )
    // The view changed while the read waited (a node joined): the new owner may have written.
    if (placement.ownerOf(type, id) !== placement.selfId)
      throw new NotOwnerError(`${type}/${id} moved while node ${placement.selfId} read it`)
    return view
  }

  tellForwarded(type: string, id: string, command: string, input: unknown): void {
    const refused = this.refuseUnowned(type, id)
    if (refused) throw refused
    this.local.tellHere(type, id, command, input)
  }

  /**
   * Marks stale the actors held here that another node owns now (or all of them): each
   * reloads, and claims again, before its next message; that claim fails where another node
   * owns the actor, so what is queued for it is refused unrun and retried at the new owner.
   */
  relinquish(cells: Iterable<ActorCell>, everyActor: boolean): void {
    const { placement } = this
    for (const cell of cells)
      if (everyActor || placement.ownerOf(cell.definition.type, cell.id) !== placement.selfId)
        cell.markStale()
  }

  private refuseUnowned(type: string, id: string): NotOwnerError | undefined {
    const owner = this.placement.ownerOf(type, id)
    if (owner === this.placement.selfId) return undefined
    return new NotOwnerError(
      `node ${this.placement.selfId} does not own ${type}/${id} (node ${owner} does): retry there`,
    )
  }

  private async retrying<T>(
    type: string,
    id: string,
    what: string,
    options: AskOptions | undefined,
    attempt: (owner: string, options: AskOptions) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.askTimeoutMs
    const deadline = this.clock.now() + timeoutMs
    let wait = FIRST_RETRY_WAIT_MS
    for (;;) {
      const owner = this.placement.ownerOf(type, id)
      const remaining = deadline - this.clock.now()
      try {
        return await attempt(
          owner,
          options?.signal
            ? { timeoutMs: remaining, signal: options.signal }
            : { timeoutMs: remaining },
        )
      } catch (error) {
        if (!retryable(error) || options?.signal?.aborted) throw error
        const left = deadline - this.clock.now()
        if (left <= 0)
          throw new AskTimeoutError(
            `no reply from ${what} within ${timeoutMs} ms: its actor was moving between the nodes of the geo (${(error as Error).message})`,
            { cause: error },
          )
        await this.placement.whenChanged(Math.min(wait, left))
        wait = Math.min(wait * 2, MAX_RETRY_WAIT_MS)
      }
    }
  }
}
