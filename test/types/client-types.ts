// Compile-time tests of anywhere-node/client, checked by `npm run typecheck` (never run).
import { createClient } from '../../client/index.js'
import type { builtInActors } from '../../actors/index.js'
import type { account } from './actor-types.js'

const client =
  createClient<readonly [...typeof builtInActors, typeof account]>('http://127.0.0.1:8080')
const byRecord = createClient<{ account: typeof account }>('http://127.0.0.1:8080')

export async function clientTypeTests(): Promise<void> {
  const counter = client.actor('counter', 'likes')
  const incremented: { value: number } = await counter.ask('increment', { by: 1 })
  // the input of increment is all defaults: it may be left out
  await counter.ask('increment')
  const state: { value: number } = await counter.read()
  // @ts-expect-error: no actor type 'counters'
  client.actor('counters', 'likes')
  // @ts-expect-error: no command 'add' on a counter
  await counter.ask('add', { by: 1 })
  // @ts-expect-error: by must be a number
  await counter.ask('increment', { by: '1' })
  // @ts-expect-error: the reply of increment has no 'elements'
  ;(await counter.ask('increment', { by: 1 })).elements

  const set = client.actor('set', 'tags')
  // the set's view ({ elements }) is what a read answers, not its internal tags
  const { elements }: { elements: string[] } = await set.read()
  // @ts-expect-error: the view has no 'tags'
  ;(await set.read()).tags
  // @ts-expect-error: the input of add is required (element has no default)
  await set.ask('add')
  await set.ask('add', { element: 'x' }, { idempotencyKey: 'k-1', timeoutMs: 500 })

  const deposit: { balance: number } = await byRecord
    .actor('account', 'a1')
    .ask('deposit', { amount: 5 })
  // @ts-expect-error: the reply of balance is a number
  const wrong: string = await byRecord.actor('account', 'a1').ask('balance', {})
  // @ts-expect-error: this client is typed by the record: no 'counter' in it
  byRecord.actor('counter', 'x')
  void incremented
  void state
  void elements
  void deposit
  void wrong
}
