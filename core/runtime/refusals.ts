// The runtime's refusals, each with a message that says what to do: an unknown actor type,
// a full mailbox, an ask cycle.
import { AskCycleError, OverloadedError, UnknownActorTypeError } from '../errors.js'
import type { ActorCell } from './actor-cell.js'

/** Most actor types named in the message of an UnknownActorTypeError (all are in its `servedTypes`). */
const MAX_TYPES_NAMED = 20

/** Names the types served, and what would serve this one when the node knows it (`hint`). */
export function unknownActorType(
  type: string,
  servedTypes: string[],
  hint: string | undefined,
): UnknownActorTypeError {
  const named = servedTypes.slice(0, MAX_TYPES_NAMED).map((t) => `'${t}'`)
  if (servedTypes.length > MAX_TYPES_NAMED)
    named.push(`${servedTypes.length - MAX_TYPES_NAMED} more (servedTypes lists them)`)
  const served =
    servedTypes.length > 0
      ? `this node serves ${named.join(', ')}`
      : 'this node serves no actor type'
  return new UnknownActorTypeError(
    `unknown actor type '${type}': ${served}; ${hint ?? "register it with defineActor() in the node's actors"}`,
    { servedTypes },
  )
}

/** A message refused because the actor's mailbox is full. */
export function overloaded(cell: ActorCell): OverloadedError {
  return new OverloadedError(
    `the mailbox of ${cell.address} is full (${cell.mailbox.capacity} messages): retry later`,
  )
}

/** An ask that would wait on an actor already waiting on the asker. */
export function askCycle(chain: readonly string[]): AskCycleError {
  return new AskCycleError(
    `ask cycle ${chain.join(' -> ')}: an actor cannot wait on an actor that waits on it; use tell for one direction`,
    { chain },
  )
}
