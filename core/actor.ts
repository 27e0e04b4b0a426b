import type { z } from 'zod'
import type { Hlc } from './hlc.js'

/** The zod schemas of an actor type's events, by event type. */
export type EventSchemas = Record<string, z.ZodType>

/** An event as `apply` sees it: its type, its parsed payload, and where it sits in the merge order. */
export type AppliedEvent<E extends EventSchemas> = {
  [K in keyof E & string]: {
    readonly type: K
    readonly payload: z.output<E[K]>
    readonly origin: string
    readonly seq: number
    readonly hlc: Hlc
  }
}[keyof E & string]

/** What a command handler may do besides reading its state. */
export interface ActorContext<S, E extends EventSchemas> {
  readonly actorType: string
  readonly actorId: string
  /** The actor's state, including the events this handler has emitted so far. */
  readonly state: S
  /** Records an event. It is persisted before the reply is sent; if the handler throws, nothing is. */
  emit<K extends keyof E & string>(type: K, payload: z.input<E[K]>): void
  /** Asks another actor of this geo and waits for its reply. */
  ask<D extends AnyActorDefinition, K extends CommandName<D>>(
    definition: D,
    id: string,
    command: K,
    input: CommandInput<D, K>,
  ): Promise<CommandReply<D, K>>
  /** Sends a command to another actor of this geo without waiting. */
  tell<D extends AnyActorDefinition, K extends CommandName<D>>(
    definition: D,
    id: string,
    command: K,
    input: CommandInput<D, K>,
  ): void
  /** The node clock's time in ms (handlers may read time; `apply` may not). */
  now(): number
}

/** A command: its input schema and its handler. */
export interface CommandDefinition<S, E extends EventSchemas, I extends z.ZodType, R> {
  readonly input: I
  readonly handle: (ctx: ActorContext<S, E>, input: z.output<I>) => R | Promise<R>
}

/** An actor type: what `defineActor` returns and what the runtime registers. */
export interface ActorDefinition<
  T extends string,
  S,
  E extends EventSchemas,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  C extends Record<string, CommandDefinition<S, E, any, any>>,
  V = S,
> {
  readonly type: T
  readonly initialState: S
  readonly events: E
  readonly apply: (state: S, event: AppliedEvent<E>) => S
  /** What readers see of the state (`GET /v1/actors/:type/:id`); the state itself when omitted. */
  readonly view?: (state: S) => V
  readonly commands: C
}

/** An actor type with its types erased: how the runtime holds every registered type. */
export interface ErasedActorDefinition {
  readonly type: string
  readonly initialState: unknown
  readonly events: Readonly<Record<string, z.ZodType>>
  readonly apply: (
    state: unknown,
    event: Omit<AppliedEvent<EventSchemas>, 'payload'> & { payload: unknown },
  ) => unknown
  readonly view?: (state: unknown) => unknown
  readonly commands: Readonly<
    Record<
      string,
      {
        readonly input: z.ZodType
        readonly handle: (ctx: ActorContext<unknown, never>, input: unknown) => unknown
      }
    >
  >
}

/** Erases an actor type's types (they were checked where it was defined). */
export function eraseActorTypes(definition: AnyActorDefinition): ErasedActorDefinition {
  return definition as ErasedActorDefinition
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorDefinition = ActorDefinition<string, any, any, any>

export type CommandName<D extends AnyActorDefinition> = keyof D['commands'] & string
export type CommandInput<D extends AnyActorDefinition, K extends CommandName<D>> = z.input<
  D['commands'][K]['input']
>
export type CommandReply<D extends AnyActorDefinition, K extends CommandName<D>> = Awaited<
  ReturnType<D['commands'][K]['handle']>
>
export type StateOf<D extends AnyActorDefinition> = D['initialState']

/** Builds one command: its input schema and its handler. Passed to `defineActor`'s `commands`. */
export type CommandBuilder<S, E extends EventSchemas> = <I extends z.ZodType, R>(
  input: I,
  handle: (ctx: ActorContext<S, E>, input: z.output<I>) => R | Promise<R>,
) => CommandDefinition<S, E, I, R>

/**
 * Declares an actor type: zod-typed commands and events and a pure, total `apply`.
 *
 * `apply` must not throw, read the clock or do I/O: every geo folds the same events
 * through it in the same order and must reach the same state.
 *
 * ```ts
 * const counter = defineActor({
 *   type: 'tally',
 *   initialState: { value: 0 },
 *   events: { added: z.object({ by: z.number().int() }) },
 *   apply: (state, event) => ({ value: state.value + event.payload.by }),
 *   commands: (command) => ({
 *     add: command(z.object({ by: z.number().int() }), (ctx, input) => {
 *       ctx.emit('added', { by: input.by })
 *       return ctx.state
 *     }),
 *   }),
 * })
 * ```
 */
export function defineActor<
  const T extends string,
  S,
  E extends EventSchemas,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  C extends Record<string, CommandDefinition<S, E, any, any>>,
  V = S,
>(definition: {
  type: T
  initialState: S
  events: E
  apply: (state: S, event: AppliedEvent<E>) => S
  view?: (state: S) => V
  commands: (command: CommandBuilder<S, E>) => C
}): ActorDefinition<T, S, E, C, V> {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.type))
    throw new TypeError(
      `actor type '${definition.type}' must be lower-case letters, digits and dashes`,
    )
  for (const event of Object.keys(definition.events))
    if (event.startsWith('$'))
      throw new TypeError(
        `event '${event}' of '${definition.type}': names starting with '$' are the runtime's (it records idempotency keys as '$keyed')`,
      )
  const commands = definition.commands((input, handle) => ({ input, handle }))
  // Looked up by names that come from HTTP paths and replicated events: without a prototype,
  // 'constructor' or '__proto__' is simply not a command or an event type.
  return Object.freeze({
    ...definition,
    events: ownEntriesOnly(definition.events),
    commands: ownEntriesOnly(commands),
  })
}

/** A frozen copy of `record` with no prototype, so only its own entries can be found in it. */
function ownEntriesOnly<R extends object>(record: R): R {
  return Object.freeze(Object.assign(Object.create(null) as R, record))
}
