// Compile-time tests of the actor API, checked by `npm run typecheck` (never run).
import { z } from 'zod'
import { defineActor } from '../../core/actor.js'
import type { ActorRef } from '../../core/runtime/index.js'

export const account = defineActor({
  type: 'account',
  initialState: { balance: 0 },
  events: {
    deposited: z.object({ amount: z.number() }),
  },
  apply: (state, event) => {
    switch (event.type) {
      case 'deposited':
        return { balance: state.balance + event.payload.amount }
    }
  },
  commands: (command) => ({
    deposit: command(z.object({ amount: z.number().positive() }), (ctx, input) => {
      ctx.emit('deposited', { amount: input.amount })
      // @ts-expect-error: 'withdrawn' is not a declared event
      ctx.emit('withdrawn', { amount: 1 })
      // @ts-expect-error: the payload of 'deposited' has no 'amt'
      ctx.emit('deposited', { amt: 1 })
      return { balance: ctx.state.balance }
    }),
    balance: command(z.object({}), (ctx) => ctx.state.balance),
  }),
})

declare const ref: ActorRef<typeof account>

export async function typeTests(): Promise<void> {
  const reply: { balance: number } = await ref.ask('deposit', { amount: 5 })
  const balance: number = await ref.ask('balance', {})
  // @ts-expect-error: no command 'withdraw'
  await ref.ask('withdraw', { amount: 5 })
  // @ts-expect-error: amount must be a number
  await ref.ask('deposit', { amount: '5' })
  // @ts-expect-error: the reply of 'balance' is a number, not a string
  const wrong: string = await ref.ask('balance', {})
  ref.tell('deposit', { amount: 1 })
  // @ts-expect-error: tell checks the input too
  ref.tell('deposit', {})
  void reply
  void balance
  void wrong
}
