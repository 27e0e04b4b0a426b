import { z } from 'zod'
import { defineActor } from '../core/actor.js'

const amount = z.strictObject({
  by: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(1),
})

/**
 * A PN counter: increments and decrements are separate events, so replicas that
 * hold the same events hold the same value in any delivery order.
 */
export const counter = defineActor({
  type: 'counter',
  initialState: { value: 0 },
  events: {
    incremented: z.object({ by: z.number().int().positive() }),
    decremented: z.object({ by: z.number().int().positive() }),
  },
  apply: (state, event) => {
    switch (event.type) {
      case 'incremented':
        return { value: state.value + event.payload.by }
      case 'decremented':
        return { value: state.value - event.payload.by }
    }
  },
  commands: (command) => ({
    increment: command(amount, (ctx, input) => {
      ctx.emit('incremented', { by: input.by })
      return ctx.state
    }),
    decrement: command(amount, (ctx, input) => {
      ctx.emit('decremented', { by: input.by })
      return ctx.state
    }),
  }),
})
