import { z } from 'zod'
import { defineActor } from '../core/actor.js'

/** Longest key accepted by the map. */
export const MAX_MAP_KEY_LENGTH = 1024

type Json = z.infer<ReturnType<typeof z.json>>

const key = z
  .string()
  .min(1)
  .max(MAX_MAP_KEY_LENGTH)
  .refine((k) => k !== '__proto__', "'__proto__' cannot be a key")

/**
 * A map of last-writer-wins registers: per key, the `put` or `deleted` event that sorts
 * last in the merge order wins.
 */
const emptyMap: { entries: Readonly<Record<string, Json>> } = { entries: {} }

export const lwwMap = defineActor({
  type: 'map',
  initialState: emptyMap,
  events: {
    put: z.object({ key: z.string(), value: z.json() }),
    deleted: z.object({ key: z.string() }),
  },
  apply: (state, event) => {
    if (event.type === 'put')
      return { entries: { ...state.entries, [event.payload.key]: event.payload.value } }
    if (!Object.hasOwn(state.entries, event.payload.key)) return state
    const entries = { ...state.entries }
    delete entries[event.payload.key]
    return { entries }
  },
  commands: (command) => ({
    put: command(z.strictObject({ key, value: z.json() }), (ctx, input) => {
      ctx.emit('put', { key: input.key, value: input.value })
      return ctx.state
    }),
    delete: command(z.strictObject({ key }), (ctx, input) => {
      if (Object.hasOwn(ctx.state.entries, input.key)) ctx.emit('deleted', { key: input.key })
      return ctx.state
    }),
  }),
})
