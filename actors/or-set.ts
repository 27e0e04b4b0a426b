import { z } from 'zod'
import { defineActor } from '../core/actor.js'

/** Longest element accepted by the set. */
export const MAX_SET_ELEMENT_LENGTH = 1024

/** The state of a `set` actor: each element with the tags of the adds not yet removed. */
export interface OrSetState {
  /** Per element, the tags (`origin:seq` of the adding event) that keep it in the set. */
  readonly tags: Readonly<Record<string, readonly string[]>>
}

const element = z.strictObject({
  element: z
    .string()
    .min(1)
    .max(MAX_SET_ELEMENT_LENGTH)
    .refine((e) => e !== '__proto__', "'__proto__' cannot be an element"),
})

/**
 * An observed-remove set of strings. Each add is tagged with its event's `origin:seq`;
 * a remove deletes only the tags its geo had observed, so an add made concurrently in
 * another geo survives the remove (add wins), and every geo converges.
 */
const emptySet: OrSetState = { tags: {} }

export const orSet = defineActor({
  type: 'set',
  initialState: emptySet,
  events: {
    added: z.object({ element: z.string() }),
    removed: z.object({ element: z.string(), tags: z.array(z.string()) }),
  },
  apply: (state, event): OrSetState => {
    const current = Object.hasOwn(state.tags, event.payload.element)
      ? state.tags[event.payload.element]!
      : []
    if (event.type === 'added') {
      return {
        tags: {
          ...state.tags,
          [event.payload.element]: [...current, `${event.origin}:${event.seq}`],
        },
      }
    }
    const removed = new Set(event.payload.tags)
    const left = current.filter((tag) => !removed.has(tag))
    const tags = { ...state.tags }
    if (left.length > 0) tags[event.payload.element] = left
    else delete tags[event.payload.element]
    return { tags }
  },
  view: (state) => ({ elements: setElements(state) }),
  commands: (command) => ({
    add: command(element, (ctx, input) => {
      ctx.emit('added', { element: input.element })
      return { elements: setElements(ctx.state) }
    }),
    remove: command(element, (ctx, input) => {
      const observed = Object.hasOwn(ctx.state.tags, input.element)
        ? ctx.state.tags[input.element]
        : undefined
      if (observed) ctx.emit('removed', { element: input.element, tags: [...observed] })
      return { elements: setElements(ctx.state) }
    }),
  }),
})

/** The elements of the set, sorted. */
export function setElements(state: OrSetState): string[] {
  return Object.keys(state.tags).sort()
}
