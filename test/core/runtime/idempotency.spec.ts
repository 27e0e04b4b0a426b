// Durable idempotency keys: a keyed command is recorded with its events (a `$keyed` event),
// so its reply is replayed after a restart and in any geo that holds the events, and two
// geos that both ran one key during a partition fold to one effect.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import {
  ActorRuntime,
  defineActor,
  HybridLogicalClock,
  IdempotencyKeyReusedError,
  silentLogger,
  systemClock,
  Taps,
  type Clock,
  type EventRecord,
  type EventStore,
} from '../../../core/index.js'
import { counter } from '../../../actors/index.js'
import { fileStore } from '../../../stores/file/index.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'

/** Counts handler runs: a replay must not run the handler again. */
let runs = 0
const account = defineActor({
  type: 'account',
  initialState: { balance: 0 },
  events: { deposited: z.object({ amount: z.number().int().positive() }) },
  apply: (state, event) => ({ balance: state.balance + event.payload.amount }),
  commands: (command) => ({
    deposit: command(z.object({ amount: z.number().int().positive() }), (ctx, input) => {
      runs++
      ctx.emit('deposited', { amount: input.amount })
      ctx.emit('deposited', { amount: input.amount })
      return { balance: ctx.state.balance }
    }),
    peek: command(z.object({}), (ctx) => {
      runs++
      return { balance: ctx.state.balance }
    }),
  }),
})

function runtimeOn(
  store: EventStore,
  origin: string,
  clock: Clock = systemClock(),
  settings: Record<string, number> = {},
): ActorRuntime {
  return new ActorRuntime(
    { actors: [account, counter], ...settings },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps: new Taps(),
      logger: silentLogger(),
      origin,
    },
  )
}

describe('ActorRuntime: durable idempotency keys', () => {
  const started: Array<{ stop(): Promise<void> }> = []
  async function start<T extends { start(): Promise<void>; stop(): Promise<void> }>(
    thing: T,
  ): Promise<T> {
    await thing.start()
    started.push(thing)
    return thing
  }
  beforeEach(() => {
    runs = 0
  })
  afterEach(async () => {
    for (const thing of started.splice(0).reverse()) await thing.stop()
  })

  it('runs a keyed command once: a retry gets the first reply, and the key is recorded before its events', async () => {
    const store = await start(new MemoryEventStore())
    const runtime = await start(runtimeOn(store, 'a'))
    const options = { idempotencyKey: 'k1' }
    const first = await runtime.askKeyed('account', 'x', 'deposit', { amount: 5 }, options)
    const again = await runtime.askKeyed('account', 'x', 'deposit', { amount: 5 }, options)
    assert.deepEqual(first, { reply: { balance: 10 }, replayed: false })
    assert.deepEqual(again, { reply: { balance: 10 }, replayed: true })
    assert.equal(runs, 1)
    const events = await store.readActor('account', 'x')
    assert.deepEqual(
      events.map((e) => e.type),
      ['$keyed', 'deposited', 'deposited'],
    )
    assert.deepEqual((events[0]!.payload as { events: number }).events, 2)
    assert.deepEqual(await runtime.read('account', 'x').then((v) => v.state), { balance: 10 })
  })

  it('refuses the same key with another input (IdempotencyKeyReusedError) and runs nothing', async () => {
    const store = await start(new MemoryEventStore())
    const runtime = await start(runtimeOn(store, 'a'))
    await runtime.askKeyed('account', 'x', 'deposit', { amount: 5 }, { idempotencyKey: 'k' })
    await assert.rejects(
      runtime.askKeyed('account', 'x', 'deposit', { amount: 6 }, { idempotencyKey: 'k' }),
      IdempotencyKeyReusedError,
    )
    await assert.rejects(
      runtime.askKeyed('account', 'x', 'peek', {}, { idempotencyKey: 'k' }),
      IdempotencyKeyReusedError,
    )
    assert.equal(runs, 1)
    assert.equal((await store.readActor('account', 'x')).length, 3)
  })

  it('records a keyed command that emits nothing, and replays its reply', async () => {
    const store = await start(new MemoryEventStore())
    const runtime = await start(runtimeOn(store, 'a'))
    await runtime.ask('account', 'x', 'deposit', { amount: 1 })
    const first = await runtime.askKeyed('account', 'x', 'peek', {}, { idempotencyKey: 'p' })
    await runtime.ask('account', 'x', 'deposit', { amount: 1 })
    const again = await runtime.askKeyed('account', 'x', 'peek', {}, { idempotencyKey: 'p' })
    assert.deepEqual(first.reply, { balance: 2 })
    assert.deepEqual(again, { reply: { balance: 2 }, replayed: true })
    assert.equal(runs, 3)
  })

  it('keeps keys across a restart of the file store, with and without a snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-idem-'))
    try {
      for (const snapshotEvery of [1_000, 2]) {
        const path = join(dir, String(snapshotEvery))
        const open = async () => {
          const clock = systemClock()
          const store = fileStore({ dir: path })({
            clock,
            logger: silentLogger(),
            taps: new Taps(),
            nodeId: 'a',
          })
          await store.start()
          const runtime = runtimeOn(store, 'a', clock, { snapshotEvery })
          await runtime.start()
          return { store, runtime }
        }
        let { store, runtime } = await open()
        for (let n = 1; n <= 5; n++)
          await runtime.askKeyed(
            'account',
            'r',
            'deposit',
            { amount: n },
            { idempotencyKey: `d${n}` },
          )
        await runtime.stop()
        await store.stop()
        ;({ store, runtime } = await open())
        try {
          runs = 0
          const again = await runtime.askKeyed(
            'account',
            'r',
            'deposit',
            { amount: 3 },
            { idempotencyKey: 'd3' },
          )
          assert.deepEqual(
            again,
            { reply: { balance: 12 }, replayed: true },
            `snapshotEvery ${snapshotEvery}`,
          )
          assert.equal(runs, 0)
          if (snapshotEvery === 2)
            assert.ok(await store.loadSnapshot('account', 'r'), 'a snapshot was written')
          assert.deepEqual((await runtime.read('account', 'r')).state, { balance: 30 })
        } finally {
          await runtime.stop()
          await store.stop()
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('two geos that both ran one key fold to one effect, whatever order the events arrive in', async () => {
    const storeA = await start(new MemoryEventStore())
    const storeB = await start(new MemoryEventStore())
    const a = await start(runtimeOn(storeA, 'a'))
    const b = await start(runtimeOn(storeB, 'b'))
    // A partition: each geo runs the same keyed command, and b also a command of its own.
    await a.askKeyed('account', 'p', 'deposit', { amount: 7 }, { idempotencyKey: 'order-1' })
    await b.askKeyed('account', 'p', 'deposit', { amount: 7 }, { idempotencyKey: 'order-1' })
    await b.ask('account', 'p', 'deposit', { amount: 100 })
    const fromA = await storeA.readOrigin('a', 1, 100)
    const fromB = await storeB.readOrigin('b', 1, 100)
    // The heal: each takes the other's events.
    await a.ingest(fromB)
    await b.ingest(fromA)
    const stateA = (await a.read('account', 'p')).state
    const stateB = (await b.read('account', 'p')).state
    assert.deepEqual(stateA, { balance: 214 })
    assert.deepEqual(stateB, stateA)
    // Both geos now replay the key, and a third store folding every event agrees.
    assert.equal(
      (await b.askKeyed('account', 'p', 'deposit', { amount: 7 }, { idempotencyKey: 'order-1' }))
        .replayed,
      true,
    )
    const storeC = await start(new MemoryEventStore())
    const c = await start(runtimeOn(storeC, 'c'))
    await c.ingest([...fromB].reverse().concat(fromA))
    assert.deepEqual((await c.read('account', 'p')).state, { balance: 214 })
  })

  it('leaves a $keyed event with a bad payload out of the state (reported), and folds the rest', async () => {
    const store = await start(new MemoryEventStore())
    const runtime = await start(runtimeOn(store, 'a'))
    const bad: EventRecord[] = [
      {
        actorType: 'account',
        actorId: 'h',
        origin: 'peer',
        seq: 1,
        hlc: { wall: Date.now(), logical: 0 },
        type: '$keyed',
        payload: { key: 'k', fingerprint: 'f', events: 'lots' },
      },
      {
        actorType: 'account',
        actorId: 'h',
        origin: 'peer',
        seq: 2,
        hlc: { wall: Date.now(), logical: 1 },
        type: 'deposited',
        payload: { amount: 3 },
      },
    ]
    await runtime.ingest(bad)
    assert.deepEqual((await runtime.read('account', 'h')).state, { balance: 3 })
  })

  it('forgets a key after the retention window (by the stamps of its events)', async () => {
    let now = Date.now()
    const clock: Clock = { ...systemClock(), now: () => now }
    const store = await start(new MemoryEventStore())
    const runtime = await start(runtimeOn(store, 'a', clock, { idempotencyRetentionMs: 60_000 }))
    await runtime.askKeyed('counter', 'c', 'increment', { by: 1 }, { idempotencyKey: 'once' })
    now += 30_000
    assert.equal(
      (await runtime.askKeyed('counter', 'c', 'increment', { by: 1 }, { idempotencyKey: 'once' }))
        .replayed,
      true,
    )
    now += 31_000
    const late = await runtime.askKeyed(
      'counter',
      'c',
      'increment',
      { by: 1 },
      {
        idempotencyKey: 'once',
      },
    )
    assert.deepEqual(late, { reply: { value: 2 }, replayed: false })
  })

  it('refuses an actor that declares an event named with a $', () => {
    assert.throws(
      () =>
        defineActor({
          type: 'sneaky',
          initialState: 0,
          events: { $keyed: z.object({}) },
          apply: (state) => state,
          commands: () => ({}),
        }),
      /names starting with '\$' are the runtime's/,
    )
  })
})
