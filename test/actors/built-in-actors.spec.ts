import assert from 'node:assert/strict'
import {
  ActorRuntime,
  HybridLogicalClock,
  silentLogger,
  simulatedClock,
  Taps,
  ValidationError,
} from '../../core/index.js'
import { builtInActors, counter, lwwMap, orSet, register } from '../../actors/index.js'
import { cart } from '../../samples/index.js'
import { MemoryEventStore } from '../../stores/memory/index.js'

describe('built-in actors and the sample cart', () => {
  let runtime: ActorRuntime
  let store: MemoryEventStore

  beforeEach(async () => {
    const clock = simulatedClock()
    store = new MemoryEventStore()
    await store.start()
    runtime = new ActorRuntime(
      { actors: [...builtInActors, cart] },
      {
        store,
        clock,
        hlc: new HybridLogicalClock(clock),
        taps: new Taps(),
        logger: silentLogger(),
        origin: 'n',
      },
    )
    await runtime.start()
  })

  afterEach(async () => {
    await runtime.stop()
    await store.stop()
  })

  it('counter increments and decrements', async () => {
    const c = runtime.actor(counter, 'c')
    await c.ask('increment', { by: 5 })
    assert.deepEqual(await c.ask('decrement', {}), { value: 4 })
  })

  it('register keeps the last value, any JSON', async () => {
    const r = runtime.actor(register, 'r')
    await r.ask('set', { value: { a: [1, null] } })
    assert.deepEqual(await r.ask('set', { value: 'b' }), { value: 'b' })
  })

  it('map and set treat keys like toString and constructor as plain keys, and refuse __proto__', async () => {
    const m = runtime.actor(lwwMap, 'm')
    assert.deepEqual(await m.ask('delete', { key: 'toString' }), { entries: {} })
    assert.deepEqual(await store.readActor('map', 'm'), [], 'deleting an absent key emits nothing')
    assert.deepEqual(await m.ask('put', { key: 'constructor', value: 1 }), {
      entries: { constructor: 1 },
    })
    assert.deepEqual(await m.ask('delete', { key: 'constructor' }), { entries: {} })
    await assert.rejects(m.ask('put', { key: '__proto__', value: 1 }), ValidationError)

    const s = runtime.actor(orSet, 's')
    assert.deepEqual(await s.ask('add', { element: 'constructor' }), { elements: ['constructor'] })
    assert.deepEqual(await s.ask('remove', { element: 'toString' }), { elements: ['constructor'] })
    assert.deepEqual(await s.ask('remove', { element: 'constructor' }), { elements: [] })
    await assert.rejects(s.ask('add', { element: '__proto__' }), ValidationError)
  })

  it('the cart adds, removes, checks out, and treats a SKU like constructor as a plain SKU', async () => {
    const c = runtime.actor(cart, 'u')
    await c.ask('add', { sku: 'constructor', quantity: 2 })
    await c.ask('add', { sku: 'apple' })
    await c.ask('remove', { sku: 'toString' })
    assert.deepEqual((await c.ask('checkout', {})).cart, {
      items: { constructor: 2, apple: 1 },
      checkedOut: true,
      late: [],
    })
    assert.deepEqual(await c.ask('add', { sku: 'pear' }), {
      accepted: false,
      reason: 'the cart is checked out',
      cart: await c.state(),
    })
    await assert.rejects(c.ask('add', { sku: '__proto__' }), ValidationError)
  })
})
