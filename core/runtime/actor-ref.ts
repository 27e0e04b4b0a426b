import type {
  AnyActorDefinition,
  CommandInput,
  CommandName,
  CommandReply,
  StateOf,
} from '../actor.js'
import type { EventKey } from '../event.js'
import type { AbortOptions } from '../lifecycle.js'
import type { AskOptions } from './options.js'

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
