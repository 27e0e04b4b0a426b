import { z } from 'zod'
import { defineActor } from '../../core/index.js'

/**
 * A test actor whose state is the ordered list of its events: any reordering shows
 * (its apply is deliberately not commutative).
 */
export const journal = defineActor({
  type: 'journal',
  initialState: { lines: [] as string[] },
  events: { written: z.object({ line: z.string() }) },
  apply: (state, event) => ({ lines: [...state.lines, event.payload.line] }),
  commands: (command) => ({
    write: command(z.object({ line: z.string().min(1) }), (ctx, input) => {
      ctx.emit('written', input)
      return ctx.state.lines.length
    }),
    fail: command(z.object({}), (ctx) => {
      ctx.emit('written', { line: 'never persisted' })
      throw new Error('boom')
    }),
    slow: command(z.object({ ms: z.number() }), async (ctx, input) => {
      await new Promise((resolve) => setTimeout(resolve, input.ms))
      ctx.emit('written', { line: `slow ${input.ms}` })
      return ctx.state.lines.length
    }),
  }),
})
