import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  ActorRuntime,
  compareEventKeys,
  eventKey,
  HybridLogicalClock,
  missingRanges,
  silentLogger,
  simulatedClock,
  Taps,
  type EventRecord,
} from '../../core/index.js'
import { eraseActorTypes } from '../../core/actor.js'
import { foldEvents } from '../../core/runtime/fold.js'
import { counter, lwwMap, orSet, register, setElements } from '../../actors/index.js'
import { cart } from '../../samples/index.js'
import { journal } from '../support/journal.js'
import { MemoryEventStore } from '../../stores/memory/index.js'

const ORIGINS = ['geo-a', 'geo-b', 'geo-c']

/** Events of one actor from several origins; per origin, seqs 1..n with non-decreasing HLCs (as a real origin writes them). */
function eventsArbitrary<T>(
  actorType: string,
  payload: fc.Arbitrary<{ type: string; payload: T }>,
) {
  return fc
    .tuple(
      ...ORIGINS.map(() =>
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), payload), { maxLength: 8 }),
      ),
    )
    .map((perOrigin) =>
      perOrigin.flatMap((steps, o) => {
        let wall = 1_000
        let logical = 0
        return steps.map(([advance, body], i): EventRecord => {
          if (advance > 0) {
            wall += advance
            logical = 0
          } else logical++
          return {
            actorType,
            actorId: 'x',
            origin: ORIGINS[o]!,
            seq: i + 1,
            hlc: { wall, logical },
            type: body.type,
            payload: body.payload,
          }
        })
      }),
    )
}

function referenceFold<S>(
  initial: S,
  apply: (s: S, e: never) => S,
  events: readonly EventRecord[],
): S {
  return [...events].sort(compareEventKeys).reduce((state, e) => apply(state, e as never), initial)
}

/** Delivers events to a fresh runtime in the given order and chunking, re-sending refused ones as anti-entropy would. */
async function deliver(
  actors: Parameters<typeof runtimeFor>[0],
  events: readonly EventRecord[],
  chunk: number,
  readEvery: number,
) {
  const { runtime, store } = await runtimeFor(actors)
  let pending = [...events]
  for (let round = 0; pending.length > 0 && round < events.length + 1; round++) {
    const next: EventRecord[] = []
    for (let i = 0; i < pending.length; i += chunk) {
      const batch = pending.slice(i, i + chunk)
      const accepted = new Set((await runtime.ingest(batch)).map((e) => `${e.origin}:${e.seq}`))
      next.push(...batch.filter((e) => !accepted.has(`${e.origin}:${e.seq}`) && !held(e, store)))
      if (readEvery > 0 && (i / chunk) % readEvery === 0) await runtime.read(actors[0]!.type, 'x') // loads the replica, so later events re-fold
    }
    pending = next
  }
  assert.equal(pending.length, 0, 'every event was eventually accepted')
  const view = await runtime.read(actors[0]!.type, 'x')
  await runtime.stop()
  return view.state
}

const heldSeqs = new WeakMap<MemoryEventStore, Map<string, number>>()
function held(e: EventRecord, store: MemoryEventStore): boolean {
  return (heldSeqs.get(store)?.get(e.origin) ?? 0) >= e.seq
}

async function runtimeFor(actors: ConstructorParameters<typeof ActorRuntime>[0]['actors']) {
  const clock = simulatedClock()
  const store = new MemoryEventStore()
  await store.start()
  const original = store.ingest.bind(store)
  const seqs = new Map<string, number>()
  heldSeqs.set(store, seqs)
  store.ingest = async (events) => {
    const accepted = await original(events)
    for (const e of accepted) seqs.set(e.origin, Math.max(seqs.get(e.origin) ?? 0, e.seq))
    return accepted
  }
  const runtime = new ActorRuntime(
    { actors },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps: new Taps(),
      logger: silentLogger(),
      origin: 'observer',
    },
  )
  await runtime.start()
  return { runtime, store }
}

const deliveryPlan = fc.record({
  seed: fc.integer(),
  chunk: fc.integer({ min: 1, max: 5 }),
  readEvery: fc.integer({ min: 0, max: 3 }),
})

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let s = seed >>> 0 || 1
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('merge order (property tests)', function () {
  this.timeout(60_000)

  it('the pure fold gives one result for the same events in any order: that of the merge order', () => {
    const written = fc
      .string({ maxLength: 3 })
      .map((line) => ({ type: 'written', payload: { line } }))
    const definition = eraseActorTypes(journal)
    fc.assert(
      fc.property(eventsArbitrary('journal', written), fc.integer(), (events, seed) => {
        const sorted = [...events].sort(compareEventKeys)
        const inOrder = foldEvents(definition, journal.initialState, sorted, false)
        const shuffledFold = foldEvents(
          definition,
          journal.initialState,
          shuffled(events, seed),
          false,
        )
        assert.deepEqual(shuffledFold, inOrder)
        assert.deepEqual(
          inOrder.state,
          referenceFold(journal.initialState, journal.apply as never, events),
        )
        assert.equal(inOrder.count, events.length)
        assert.deepEqual(inOrder.last, sorted.at(-1) && eventKey(sorted.at(-1)!))
        assert.deepEqual(inOrder.unapplied, [])
        // Folding on from a state part-way through the merge order (a checkpoint) gives the same state.
        const cut = Math.abs(seed) % (sorted.length + 1)
        const head = foldEvents(definition, journal.initialState, sorted.slice(0, cut), false)
        const rest = foldEvents(
          definition,
          head.state,
          shuffled(sorted.slice(cut), seed + 1),
          false,
        )
        assert.deepEqual(rest.state, inOrder.state)
      }),
      { numRuns: 200 },
    )
  })

  it('the pure fold leaves out, in any order, a replicated event this node cannot apply', () => {
    const definition = eraseActorTypes(journal)
    const event = (seq: number, type: string, payload: unknown): EventRecord => ({
      actorType: 'journal',
      actorId: 'x',
      origin: 'geo-a',
      seq,
      hlc: { wall: seq, logical: 0 },
      type,
      payload,
    })
    const events = [
      event(1, 'written', { line: 'a' }),
      event(2, 'erased', {}),
      event(3, 'written', { line: 42 }),
      event(4, 'written', { line: 'b' }),
    ]
    const expected = referenceFold(journal.initialState, journal.apply as never, [
      events[0]!,
      events[3]!,
    ])
    for (const order of [events, [...events].reverse()]) {
      const folded = foldEvents(definition, journal.initialState, order, false)
      assert.deepEqual(folded.state, expected)
      assert.equal(folded.count, 4)
      assert.deepEqual(
        folded.unapplied.map((u) => u.event.seq),
        [2, 3],
      )
    }
    // Events this process has just emitted were validated then: the fold does not check them again.
    const local = foldEvents(definition, journal.initialState, [events[2]!], true)
    assert.deepEqual(local.state, { lines: [42] })
    assert.deepEqual(local.unapplied, [])
  })

  it('a non-commutative apply reaches the same state for every delivery order of the same events', async () => {
    const written = fc
      .string({ maxLength: 3 })
      .map((line) => ({ type: 'written', payload: { line } }))
    await fc.assert(
      fc.asyncProperty(
        eventsArbitrary('journal', written),
        deliveryPlan,
        deliveryPlan,
        async (events, p1, p2) => {
          const expected = referenceFold(journal.initialState, journal.apply as never, events)
          const first = await deliver([journal], shuffled(events, p1.seed), p1.chunk, p1.readEvery)
          const second = await deliver([journal], shuffled(events, p2.seed), p2.chunk, p2.readEvery)
          assert.deepEqual(first, expected)
          assert.deepEqual(second, expected)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('the shopping cart (order-dependent checkout) converges for every delivery order', async () => {
    const body = fc.oneof(
      fc
        .constantFrom('apple', 'pear')
        .map((sku) => ({ type: 'itemAdded', payload: { sku, quantity: 1 } })),
      fc.constantFrom('apple', 'pear').map((sku) => ({ type: 'itemRemoved', payload: { sku } })),
      fc.constant({ type: 'checkedOut', payload: {} }),
    )
    await fc.assert(
      fc.asyncProperty(eventsArbitrary('cart', body), deliveryPlan, async (events, plan) => {
        const expected = referenceFold(cart.initialState, cart.apply as never, events)
        assert.deepEqual(
          await deliver([cart], shuffled(events, plan.seed), plan.chunk, plan.readEvery),
          expected,
        )
      }),
      { numRuns: 40 },
    )
  })

  it('the built-in actors converge for every delivery order', async () => {
    const counterBody = fc.record({
      type: fc.constantFrom('incremented', 'decremented'),
      payload: fc.record({ by: fc.integer({ min: 1, max: 9 }) }),
    })
    const registerBody = fc.integer().map((value) => ({ type: 'assigned', payload: { value } }))
    const mapBody = fc.oneof(
      fc.record({
        type: fc.constant('put'),
        payload: fc.record({ key: fc.constantFrom('k1', 'k2'), value: fc.integer() }),
      }),
      fc.record({
        type: fc.constant('deleted'),
        payload: fc.record({ key: fc.constantFrom('k1', 'k2') }),
      }),
    )
    const setBody = fc.oneof(
      fc.constantFrom('a', 'b').map((element) => ({ type: 'added', payload: { element } })),
      fc
        .record({
          element: fc.constantFrom('a', 'b'),
          tags: fc.subarray(['geo-a:1', 'geo-b:1', 'geo-c:2', 'geo-a:3']),
        })
        .map((payload) => ({ type: 'removed', payload })),
    )
    const cases = [
      [counter, counterBody],
      [register, registerBody],
      [lwwMap, mapBody],
      [orSet, setBody],
    ] as const
    for (const [definition, body] of cases) {
      await fc.assert(
        fc.asyncProperty(
          eventsArbitrary(
            definition.type,
            body as fc.Arbitrary<{ type: string; payload: unknown }>,
          ),
          deliveryPlan,
          deliveryPlan,
          async (events, p1, p2) => {
            const expected = referenceFold(
              definition.initialState as unknown,
              definition.apply as never,
              events,
            )
            assert.deepEqual(
              await deliver([definition], shuffled(events, p1.seed), p1.chunk, p1.readEvery),
              expected,
            )
            assert.deepEqual(
              await deliver([definition], shuffled(events, p2.seed), p2.chunk, p2.readEvery),
              expected,
            )
          },
        ),
        { numRuns: 25 },
      )
    }
  })

  it('the observed-remove set keeps an add that the remover had not seen (add wins)', () => {
    const add = (origin: string, seq: number, wall: number): EventRecord => ({
      actorType: 'set',
      actorId: 'x',
      origin,
      seq,
      hlc: { wall, logical: 0 },
      type: 'added',
      payload: { element: 'milk' },
    })
    const removeSeen: EventRecord = {
      actorType: 'set',
      actorId: 'x',
      origin: 'geo-b',
      seq: 1,
      hlc: { wall: 30, logical: 0 },
      type: 'removed',
      payload: { element: 'milk', tags: ['geo-a:1'] },
    }
    // geo-a added milk twice; geo-b removed it having seen only the first add.
    const state = referenceFold(orSet.initialState, orSet.apply as never, [
      add('geo-a', 1, 10),
      add('geo-a', 2, 20),
      removeSeen,
    ])
    assert.deepEqual(setElements(state), ['milk'])
    const removedAll = referenceFold(orSet.initialState, orSet.apply as never, [
      add('geo-a', 1, 10),
      { ...removeSeen, payload: { element: 'milk', tags: ['geo-a:1'] } },
    ])
    assert.deepEqual(setElements(removedAll), [])
  })

  it('version-vector diff returns exactly the events the other replica lacks', async () => {
    const prefix = fc.record(
      Object.fromEntries(ORIGINS.map((o) => [o, fc.integer({ min: 0, max: 6 })])),
    )
    await fc.assert(
      fc.asyncProperty(prefix, prefix, async (mineCounts, theirCounts) => {
        const event = (origin: string, seq: number): EventRecord => ({
          actorType: 'journal',
          actorId: 'x',
          origin,
          seq,
          hlc: { wall: seq, logical: 0 },
          type: 'written',
          payload: { line: `${origin}${seq}` },
        })
        const fill = async (counts: Record<string, number>) => {
          const store = new MemoryEventStore()
          await store.start()
          await store.ingest(
            ORIGINS.flatMap((o) => Array.from({ length: counts[o]! }, (_, i) => event(o, i + 1))),
          )
          return store
        }
        const mine = await fill(mineCounts)
        const theirs = await fill(theirCounts)
        const ranges = missingRanges(await mine.versionVector(), await theirs.versionVector())
        const sent = (
          await Promise.all(
            ranges.map((r) => mine.readOrigin(r.origin, r.fromSeq, r.toSeq - r.fromSeq + 1)),
          )
        ).flat()
        const expected = ORIGINS.flatMap((o) =>
          Array.from(
            { length: Math.max(0, mineCounts[o]! - theirCounts[o]!) },
            (_, i) => `${o}:${theirCounts[o]! + i + 1}`,
          ),
        )
        assert.deepEqual(sent.map((e) => `${e.origin}:${e.seq}`).sort(), expected.sort())
        assert.equal(
          (await theirs.ingest(sent)).length,
          sent.length,
          'what was sent fills the gap exactly',
        )
      }),
      { numRuns: 100 },
    )
  })
})
