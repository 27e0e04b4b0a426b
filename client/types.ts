// The client's view of the server's actor types: compile-time only, nothing here runs.
import type {
  AnyActorDefinition,
  CommandInput,
  CommandName,
  CommandReply,
  StateOf,
} from '../core/actor.js'

/** The actor definitions a client is typed by: a tuple or array of them, or a record of them. */
export type ActorSet = readonly AnyActorDefinition[] | Readonly<Record<string, AnyActorDefinition>>

/** The union of the definitions in an actor set. */
export type ActorsIn<A extends ActorSet> = A extends readonly AnyActorDefinition[]
  ? A[number]
  : A[keyof A]

/** The type names an actor set serves (`'counter' | 'set' | ...`). */
export type ActorTypeName<A extends ActorSet> = ActorsIn<A>['type']

/**
 * The definition of the actor type named `T` in the set. An untyped client (`type: string`)
 * finds no literal match and keeps the loose definition, so any name and input compile.
 */
export type ActorOfType<A extends ActorSet, T extends ActorTypeName<A>> = [
  Extract<ActorsIn<A>, { readonly type: T }>,
] extends [never]
  ? ActorsIn<A>
  : Extract<ActorsIn<A>, { readonly type: T }>

/**
 * What `GET /v1/actors/:type/:id` answers: the result of the definition's `view` when it
 * declares one, else the state itself.
 */
export type ReadResult<D extends AnyActorDefinition> =
  NonNullable<D['view']> extends (state: never) => infer V ? V : StateOf<D>

/** Options of one call: cancellation, a deadline, extra headers and, for commands, the key. */
export interface CallOptions {
  /** Cancels the call, its retries included. */
  readonly signal?: AbortSignal
  /** Deadline of each attempt in ms (overrides the client's `timeoutMs`). */
  readonly timeoutMs?: number
  /** Headers of this call, added to the client's. */
  readonly headers?: Readonly<Record<string, string>>
  /**
   * The `Idempotency-Key` of a command (generated when omitted). Pass your own to make a
   * retry that outlives this call (after a page reload, say) apply the command once.
   */
  readonly idempotencyKey?: string
  /** Largest answer body read, in bytes (overrides the client's `maxResponseBytes`). */
  readonly maxResponseBytes?: number
}

/**
 * The arguments of `ask(command, ...)`: the input may be left out when the command's schema
 * accepts an empty object (every field optional or defaulted), as the gateway reads an
 * empty body as `{}`.
 */
export type AskArgs<D extends AnyActorDefinition, K extends CommandName<D>> =
  Record<never, never> extends CommandInput<D, K>
    ? [input?: CommandInput<D, K>, options?: CallOptions]
    : [input: CommandInput<D, K>, options?: CallOptions]

/** One actor, seen from the client: its commands and its state. */
export interface RemoteActor<D extends AnyActorDefinition> {
  readonly type: D['type']
  readonly id: string
  /** Sends a command; resolves with the handler's reply, rejects with an `AnywhereClientError`. */
  ask<K extends CommandName<D>>(command: K, ...args: AskArgs<D, K>): Promise<CommandReply<D, K>>
  /** Reads the actor's state (or its view). */
  read(options?: Omit<CallOptions, 'idempotencyKey'>): Promise<ReadResult<D>>
}
