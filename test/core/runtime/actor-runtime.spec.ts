import assert from 'node:assert/strict'
import { firstValueFrom, take, toArray } from 'rxjs'
import { z } from 'zod'
import {
  ActorRuntime,
  AskCycleError,
  defineActor,
  HandlerError,
  HybridLogicalClock,
  MAX_EVENT_PAYLOAD_BYTES,
  MAX_PAYLOAD_DEPTH,
  silentLogger,
  simulatedClock,
  StoreUnavailableError,
  Taps,
  UnknownActorTypeError,
  UnknownCommandError,
  ValidationError,
  type EventDraft,
  type EventRecord,
  type RuntimeInit,
  type SimulatedClock,
} from '../../../core/index.js'
import { counter } from '../../../actors/index.js'
import { journal } from '../../support/journal.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'

/** Stores whatever it is given: schemas that keep every key. */
const raw = defineActor({
  type: 'raw',
  initialState: null as unknown,
  events: { stored: z.unknown() },
  apply: (_state, event) => event.payload,
  commands: (command) => ({
    put: command(z.unknown(), (ctx, input) => {
      ctx.emit('stored', input)
      return null
    }),
  }),
})

/** Two actors that call each other: used for the ask-cycle test. */
const ping = defineActor({
  type: 'ping',
  initialState: {},
  events: {},
  apply: (state) => state,
  commands: (command) => ({
    relay: command(
      z.object({ to: z.string(), hops: z.number().int() }),
      async (ctx, input): Promise<string> => {
        if (input.hops === 0) return 'done'
        return ctx.ask(ping, input.to, 'relay', { to: ctx.actorId, hops: input.hops - 1 })
      },
    ),
    self: command(z.object({}), async (ctx): Promise<string> =>
      ctx.ask(ping, ctx.actorId, 'relay', { to: 'x', hops: 0 }),
    ),
  }),
})

class FlakyStore extends MemoryEventStore {
  failAppends = false
  appendDelayMs = 0
  override async append(drafts: readonly EventDraft[]): Promise<EventRecord[]> {
    if (this.appendDelayMs) await new Promise((resolve) => setTimeout(resolve, this.appendDelayMs))
    if (this.failAppends) throw new StoreUnavailableError('the store is down (test)')
    return super.append(drafts)
  }
}

interface Harness {
  runtime: ActorRuntime
  store: FlakyStore
  taps: Taps
  clock: SimulatedClock
}

async function harness(
  init: Partial<RuntimeInit> = {},
  store = new FlakyStore(),
): Promise<Harness> {
  const clock = simulatedClock()
  const taps = new Taps()
  await store.start()
  const runtime = new ActorRuntime(
    { actors: [journal, ping, counter, raw], ...init },
    {
      store,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps,
      logger: silentLogger(),
      origin: 'node-1',
    },
  )
  await runtime.start()
  return { runtime, store, taps, clock }
}

describe('ActorRuntime', () => {
  let h: Harness

  afterEach(async () => {
    await h?.runtime.stop()
    await h?.store.stop()
  })

  it('asks and tells actors addressed by (type, id), with typed replies', async () => {
    h = await harness()
    const ref = h.runtime.actor(journal, 'j1')
    assert.equal(await ref.ask('write', { line: 'a' }), 1)
    ref.tell('write', { line: 'b' })
    assert.equal(await ref.ask('write', { line: 'c' }), 3)
    assert.deepEqual(await ref.state(), { lines: ['a', 'b', 'c'] })
    assert.deepEqual(await h.runtime.actor(journal, 'j2').state(), { lines: [] })
  })

  it('processes one message at a time per actor, and different actors concurrently', async () => {
    h = await harness()
    const a = h.runtime.actor(journal, 'a')
    const b = h.runtime.actor(journal, 'b')
    const started = Date.now()
    // The slow handler awaits; a second message to the same actor must wait for it.
    const replies = await Promise.all([
      a.ask('slow', { ms: 60 }),
      a.ask('write', { line: 'after' }),
      b.ask('slow', { ms: 60 }),
    ])
    assert.deepEqual(replies, [1, 2, 1])
    assert.deepEqual((await a.state()).lines, ['slow 60', 'after'])
    assert.ok(Date.now() - started < 1_000)
  })

  it('a throwing handler fails that message only: nothing persisted, typed error, actor keeps serving', async () => {
    h = await harness()
    const ref = h.runtime.actor(journal, 'j')
    await ref.ask('write', { line: 'kept' })
    await assert.rejects(ref.ask('fail', {}), (error: unknown) => {
      assert.ok(error instanceof HandlerError)
      assert.match(error.message, /boom/)
      return true
    })
    assert.equal(await ref.ask('write', { line: 'still serving' }), 2)
    assert.deepEqual(
      (await h.store.readActor('journal', 'j')).map((e) => (e.payload as { line: string }).line),
      ['kept', 'still serving'],
    )
  })

  it('refuses to emit a payload with a __proto__ key (no store or peer could decode it)', async () => {
    h = await harness()
    const payload = JSON.parse('{"__proto__":{"x":1}}') as unknown
    const error = await h.runtime.ask('raw', 'p', 'put', payload).catch((e: unknown) => e)
    assert.ok(error instanceof HandlerError, String(error))
    assert.equal((error.cause as Error).name, 'ValidationError')
    assert.deepEqual(await h.store.readActor('raw', 'p'), [])
  })

  it('refuses to emit a payload too deep or too large for the stores and the fabric', async () => {
    h = await harness()
    let deep: unknown = 'leaf'
    for (let i = 0; i < MAX_PAYLOAD_DEPTH + 1; i++) deep = [deep]
    const tooDeep = await h.runtime.ask('raw', 'p', 'put', deep).catch((e: unknown) => e)
    assert.ok(
      tooDeep instanceof HandlerError && /nest at most/.test(tooDeep.message),
      String(tooDeep),
    )
    const tooLarge = await h.runtime
      .ask('raw', 'p', 'put', 'x'.repeat(MAX_EVENT_PAYLOAD_BYTES))
      .catch((e: unknown) => e)
    assert.ok(
      tooLarge instanceof HandlerError && /at most/.test(tooLarge.message),
      String(tooLarge),
    )
    assert.deepEqual(await h.store.readActor('raw', 'p'), [])
    let fine: unknown = 'leaf'
    for (let i = 0; i < MAX_PAYLOAD_DEPTH - 1; i++) fine = [fine]
    assert.equal(await h.runtime.ask('raw', 'p', 'put', fine), null)
  })

  it('rejects invalid input, unknown commands and unknown types with typed errors and persists nothing', async () => {
    h = await harness()
    await assert.rejects(h.runtime.ask('journal', 'j', 'write', { line: '' }), ValidationError)
    await assert.rejects(h.runtime.ask('journal', 'j', 'write', 'not an object'), ValidationError)
    await assert.rejects(h.runtime.ask('journal', 'j', 'erase', {}), UnknownCommandError)
    await assert.rejects(h.runtime.ask('ghost', 'j', 'write', {}), UnknownActorTypeError)
    assert.deepEqual(await h.store.versionVector(), {})
  })

  it('an unknown type names the types served (at most 20 in the message) and the hint the node gives', async () => {
    h = await harness({
      unknownActorHint: (type) => (type === 'hinted' ? 'serve it with X' : undefined),
    })
    const ghost = await h.runtime.ask('ghost', 'g', 'write', {}).catch((e: unknown) => e)
    assert.ok(ghost instanceof UnknownActorTypeError)
    assert.deepEqual(ghost.servedTypes, ['journal', 'ping', 'counter', 'raw'])
    assert.equal(
      ghost.message,
      "unknown actor type 'ghost': this node serves 'journal', 'ping', 'counter', 'raw'; register it with defineActor() in the node's actors",
    )
    const hinted = await (async () => h.runtime.read('hinted', 'x'))().catch((e: unknown) => e)
    assert.ok(hinted instanceof UnknownActorTypeError)
    assert.match(hinted.message, /; serve it with X$/)
    await h.runtime.stop()
    await h.store.stop()

    const many = Array.from({ length: 25 }, (_, i) => ({
      ...counter,
      type: `t${i}`,
    })) as unknown as RuntimeInit['actors']
    h = await harness({ actors: many })
    const listed = await h.runtime.ask('ghost', 'g', 'x', {}).catch((e: unknown) => e)
    assert.ok(listed instanceof UnknownActorTypeError)
    assert.equal(listed.servedTypes.length, 25)
    assert.match(listed.message, /'t19', 5 more \(servedTypes lists them\);/)
    assert.doesNotMatch(listed.message, /'t20'/)
  })

  it('replies only after the events are durable, and not at all when the store fails', async () => {
    h = await harness()
    h.store.appendDelayMs = 50
    const ref = h.runtime.actor(counter, 'c')
    let replied = false
    const pending = ref.ask('increment', { by: 1 }).then(() => (replied = true))
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(replied, false)
    assert.deepEqual(await h.store.versionVector(), {})
    await pending
    assert.deepEqual(await h.store.versionVector(), { 'node-1': 1 })

    h.store.appendDelayMs = 0
    h.store.failAppends = true
    await assert.rejects(ref.ask('increment', { by: 5 }), StoreUnavailableError)
    h.store.failAppends = false
    assert.deepEqual(await ref.state(), { value: 1 }, 'a failed append leaves the state as it was')
    assert.deepEqual(await ref.ask('increment', { by: 2 }), { value: 3 })
  })

  it('fails an ask cycle with AskCycleError instead of deadlocking', async () => {
    h = await harness({ askTimeoutMs: 5_000 })
    await assert.rejects(
      h.runtime.ask('ping', 'a', 'relay', { to: 'b', hops: 3 }),
      (error: unknown) => {
        assert.ok(error instanceof AskCycleError, String(error))
        assert.match(error.message, /ping\/a -> ping\/b -> ping\/a/)
        return true
      },
    )
    await assert.rejects(h.runtime.ask('ping', 'solo', 'self', {}), AskCycleError)
    assert.equal(
      await h.runtime.ask('ping', 'a', 'relay', { to: 'b', hops: 1 }),
      'done',
      'a chain without a cycle works',
    )
  })

  it('keeps memory bounded: evicts least recently used actors and rehydrates them from the store', async () => {
    h = await harness({ maxActorsInMemory: 50, snapshotEvery: 3 })
    const evicted = firstValueFrom(h.taps.of('actor.evicted').pipe(take(1)))
    for (let i = 0; i < 500; i++)
      await h.runtime.ask('counter', `c${i}`, 'increment', { by: i + 1 })
    assert.ok(h.runtime.actorsInMemory <= 51, `${h.runtime.actorsInMemory} actors in memory`)
    assert.equal((await evicted).reason, 'capacity')
    const rehydrated = firstValueFrom(h.taps.of('actor.rehydrated').pipe(take(1)))
    assert.deepEqual(await h.runtime.actor(counter, 'c7').state(), { value: 8 })
    assert.equal((await rehydrated).actor.id, 'c7')
  })

  it('evicts idle actors on the simulated clock and rehydrates from a snapshot plus the tail', async () => {
    h = await harness({ idleEvictMs: 60_000, snapshotEvery: 4 })
    const ref = h.runtime.actor(journal, 'idle')
    for (let i = 0; i < 10; i++) await ref.ask('write', { line: `l${i}` })
    assert.equal(h.runtime.actorsInMemory, 1)
    await new Promise((resolve) => setImmediate(resolve)) // let the mailbox settle after the last reply
    h.clock.advance(120_000)
    assert.equal(h.runtime.actorsInMemory, 0)
    await new Promise((resolve) => setImmediate(resolve))
    const snapshot = await h.store.loadSnapshot('journal', 'idle')
    assert.equal(snapshot?.eventCount, 10)
    const rehydrated = firstValueFrom(h.taps.of('actor.rehydrated'))
    assert.equal((await ref.state()).lines.length, 10)
    const tap = await rehydrated
    assert.equal(tap.fromSnapshot, true)
    assert.equal(tap.events, 0)
  })

  it('re-folds an actor when a replicated event sorts before events it applied, and reports it', async () => {
    h = await harness()
    const ref = h.runtime.actor(journal, 'j')
    h.clock.set(2_000_000_000_000)
    await ref.ask('write', { line: 'local-1' })
    await ref.ask('write', { line: 'local-2' })
    const reordered = firstValueFrom(h.taps.of('event.reordered'))
    const early = {
      actorType: 'journal',
      actorId: 'j',
      origin: 'remote',
      seq: 1,
      hlc: { wall: 1_000, logical: 0 },
      type: 'written',
      payload: { line: 'remote-early' },
    }
    const late = {
      ...early,
      seq: 2,
      hlc: { wall: 2_000_000_030_000, logical: 0 }, // ahead, within the skew bound
      payload: { line: 'remote-late' },
    }
    assert.equal((await h.runtime.ingest([early, late])).length, 2)
    assert.deepEqual((await ref.state()).lines, [
      'remote-early',
      'local-1',
      'local-2',
      'remote-late',
    ])
    const tap = await reordered
    assert.equal(tap.event.origin, 'remote')
    // Ingest is idempotent: the same events again change nothing.
    assert.deepEqual(await h.runtime.ingest([early, late]), [])
    assert.deepEqual((await ref.state()).lines, [
      'remote-early',
      'local-1',
      'local-2',
      'remote-late',
    ])
    // A local write after ingesting sorts after everything seen (the HLC moved past the remote stamp).
    await ref.ask('write', { line: 'local-3' })
    assert.deepEqual((await ref.state()).lines.at(-1), 'local-3')
  })

  it('never loses a replicated event when the actor`s mailbox is full: the replica reloads from the store', async () => {
    h = await harness({ mailboxCapacity: 2 })
    const ref = h.runtime.actor(journal, 'busy')
    const slow = ref.ask('slow', { ms: 50 })
    await new Promise((resolve) => setImmediate(resolve)) // now running, out of the queue
    const queued = [ref.ask('write', { line: 'q1' }), ref.ask('write', { line: 'q2' })] // the mailbox is now full
    await assert.rejects(ref.ask('write', { line: 'refused' }), /mailbox .* is full/)
    const remote = {
      actorType: 'journal',
      actorId: 'busy',
      origin: 'remote',
      seq: 1,
      hlc: { wall: 1, logical: 0 },
      type: 'written',
      payload: { line: 'remote' },
    }
    assert.equal((await h.runtime.ingest([remote])).length, 1)
    await Promise.all([slow, ...queued])
    assert.deepEqual((await ref.state()).lines, ['remote', 'slow 50', 'q1', 'q2'])
  })

  it('treats command and event names of Object.prototype members as unknown, not as functions', async () => {
    h = await harness()
    const ref = h.runtime.actor(counter, 'proto')
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty'])
      await assert.rejects(h.runtime.ask('counter', 'proto', name, {}), {
        name: 'UnknownCommandError',
      })
    const unapplied = firstValueFrom(h.taps.of('event.unapplied').pipe(take(2), toArray()))
    const base = {
      actorType: 'counter',
      actorId: 'proto',
      origin: 'other',
      hlc: { wall: 1, logical: 0 },
    }
    await h.runtime.ingest([
      { ...base, seq: 1, type: 'constructor', payload: {} },
      { ...base, seq: 2, type: 'toString', payload: {} },
    ])
    assert.equal((await unapplied).length, 2)
    assert.deepEqual(await ref.ask('increment', { by: 1 }), { value: 1 })
  })

  it('keeps but does not apply a replicated event it cannot apply (unknown type, bad payload), and the actor keeps serving', async () => {
    h = await harness()
    const ref = h.runtime.actor(counter, 'skew')
    await ref.ask('increment', { by: 1 })
    const unapplied = firstValueFrom(h.taps.of('event.unapplied').pipe(take(2), toArray()))
    const base = {
      actorType: 'counter',
      actorId: 'skew',
      origin: 'newer-geo',
      hlc: { wall: 1, logical: 0 },
    }
    const accepted = await h.runtime.ingest([
      { ...base, seq: 1, type: 'reset', payload: {} },
      { ...base, seq: 2, type: 'incremented', payload: { by: 'lots' } },
    ])
    assert.equal(accepted.length, 2, 'stored, so they replicate on')
    assert.deepEqual(await ref.state(), { value: 1 })
    assert.deepEqual(
      (await unapplied).map((e) => e.event.seq),
      [1, 2],
    )
    assert.deepEqual(await ref.ask('increment', { by: 2 }), { value: 3 })
  })

  it('never evicts the actor it is handing a message to, even when every other actor is busy', async () => {
    h = await harness({ maxActorsInMemory: 2 })
    const busy = [
      h.runtime.ask('journal', 'b1', 'slow', { ms: 80 }),
      h.runtime.ask('journal', 'b2', 'slow', { ms: 80 }),
    ]
    await new Promise((resolve) => setImmediate(resolve))
    // Two messages to a third actor while the bound is reached: one cell, one message at a time.
    const lengths = await Promise.all([
      h.runtime.ask('journal', 'x', 'slow', { ms: 20 }),
      h.runtime.ask('journal', 'x', 'slow', { ms: 20 }),
    ])
    assert.deepEqual(lengths.sort(), [1, 2])
    await Promise.all(busy)
  })

  it('fails a read or command when the re-fold it waits for cannot read the store, instead of hanging', async () => {
    const store = new (class extends FlakyStore {
      failReads = false
      override async readActor(...args: Parameters<MemoryEventStore['readActor']>) {
        if (this.failReads) throw new StoreUnavailableError('reads are down (test)')
        return super.readActor(...args)
      }
    })()
    h = await harness({}, store)
    const ref = h.runtime.actor(journal, 'r')
    await ref.ask('write', { line: 'b' })
    await h.runtime.ingest([
      {
        actorType: 'journal',
        actorId: 'r',
        origin: 'remote',
        seq: 1,
        hlc: { wall: 1, logical: 0 },
        type: 'written',
        payload: { line: 'a' },
      },
    ])
    store.failReads = true
    await assert.rejects(ref.state(), StoreUnavailableError)
    store.failReads = false
    assert.deepEqual((await ref.state()).lines, ['a', 'b'])
  })

  it('publishes taps for received, handled and failed messages and appended events', async () => {
    h = await harness()
    const seen = firstValueFrom(h.taps.forActor('journal', 'tapped').pipe(take(5), toArray()))
    await h.runtime.ask('journal', 'tapped', 'write', { line: 'x' })
    await h.runtime.ask('journal', 'tapped', 'write', { line: '' }).catch(() => undefined)
    const kinds = (await seen).map((e) => e.kind)
    assert.deepEqual(kinds, [
      'message.received',
      'event.appended',
      'message.handled',
      'message.received',
      'message.failed',
    ])
  })

  it('refuses messages after stop, and finishes queued ones before stopping', async () => {
    h = await harness()
    const ref = h.runtime.actor(journal, 's')
    const queued = [ref.ask('slow', { ms: 30 }), ref.ask('write', { line: 'queued' })]
    await h.runtime.stop()
    assert.deepEqual(await Promise.all(queued), [1, 2])
    assert.throws(() => ref.tell('write', { line: 'late' }), /not running/)
  })
})
