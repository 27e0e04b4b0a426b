import { z } from 'zod'
import { defineActor } from '../core/actor.js'

/**
 * A last-writer-wins register: the value of the `assigned` event that sorts last in
 * the merge order `(hlc, origin, seq)` wins, so every geo settles on the same value.
 */
export const register = defineActor({
  type: 'register',
  initialState: { value: null as z.infer<ReturnType<typeof z.json>> },
  events: {
    assigned: z.object({ value: z.json() }),
  },
  apply: (_state, event) => ({ value: event.payload.value }),
  commands: (command) => ({
    set: command(z.strictObject({ value: z.json() }), (ctx, input) => {
      ctx.emit('assigned', { value: input.value })
      return ctx.state
    }),
  }),
})
