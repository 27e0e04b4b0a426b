// Pipelined persistence: a hot actor runs its next command against events still being made
// durable, and every reply still waits for its own append. A store whose appends wait at a
// gate shows the order; an injected failure shows what fails with it.
import assert from 'node:assert/strict'
import {
  ActorRuntime,
  HybridLogicalClock,
  silentLogger,
  systemClock,
  Taps,
  type AbortOptions,
  type EventDraft,
  type EventRecord,
} from '../../../core/index.js'
import { counter } from '../../../actors/index.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'

/** Appends wait until released; a chosen append (by call number, from 1) fails after its write. */
class GatedStore extends MemoryEventStore {
  calls = 0
  readonly waiting: Array<() => void> = []
  failCall: number | undefined
  gated = true

  override async append(
    drafts: readonly EventDraft[],
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    const call = ++this.calls
    if (this.gated) await new Promise<void>((resolve) => this.waiting.push(resolve))
    if (call === this.failCall) throw new Error(`append ${call} failed (injected)`)
    return super.append(drafts, options)
  }

  releaseAll(): void {
    for (const release of this.waiting.splice(0)) release()
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

describe('ActorRuntime: pipelined persistence of a hot actor', () => {
  let store: GatedStore
  let runtime: ActorRuntime

  beforeEach(async () => {
    store = new GatedStore()
    await store.start()
    const clock = systemClock()
    runtime = new ActorRuntime(
      { actors: [counter] },
      {
        store,
        clock,
        hlc: new HybridLogicalClock(clock),
        taps: new Taps(),
        logger: silentLogger(),
        origin: 'node-1',
      },
    )
    await runtime.start()
  })

  afterEach(async () => {
    store.gated = false
    store.releaseAll()
    await runtime.stop()
    await store.stop()
  })

  it('runs the next commands while the first append is under way, and answers each only once it is durable', async () => {
    const answered: number[] = []
    const replies = [1, 2, 3, 4].map((n) =>
      runtime.ask('counter', 'hot', 'increment', { by: 1 }).then((reply) => {
        answered.push(n)
        return reply
      }),
    )
    // All four appends are under way at once: each command ran against the previous ones' events.
    await until('four appends under way', () => store.waiting.length === 4)
    assert.deepEqual(answered, [])
    // A read waits for what is under way: it never reports what is not stored.
    let read: unknown
    const reading = runtime.read('counter', 'hot').then((view) => (read = view.state))
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(read, undefined)
    store.releaseAll()
    assert.deepEqual(
      (await Promise.all(replies)).map((r) => r),
      [{ value: 1 }, { value: 2 }, { value: 3 }, { value: 4 }],
    )
    assert.deepEqual(answered, [1, 2, 3, 4])
    await reading
    assert.deepEqual(read, { value: 4 })
    assert.equal((await store.readActor('counter', 'hot')).length, 4)
  })

  it('fails the command whose append failed and every command that ran after it, then reloads from the store', async () => {
    store.failCall = 2
    const outcomes = await (async () => {
      const asks = [1, 2, 3, 4].map((n) =>
        runtime.ask('counter', 'hot', 'increment', { by: n }).then(
          (reply) => ({ n, reply }),
          (error: unknown) => ({ n, error: (error as Error).message }),
        ),
      )
      await until('four appends under way', () => store.waiting.length === 4)
      store.gated = false
      store.releaseAll()
      return Promise.all(asks)
    })()
    assert.deepEqual(outcomes[0], { n: 1, reply: { value: 1 } })
    assert.match((outcomes[1] as { error: string }).error, /append 2 failed/)
    for (const outcome of outcomes.slice(2))
      assert.match(
        (outcome as { error: string }).error,
        /could not be stored, and this one ran after it/,
      )
    // Commands 3 and 4 were stored (they ran against 2's events, which were not): the actor
    // reloads from the store, and from then on holds exactly what the store holds.
    const stored = await store.readActor('counter', 'hot')
    assert.deepEqual(
      stored.map((e) => (e.payload as { by: number }).by),
      [1, 3, 4],
    )
    assert.deepEqual((await runtime.read('counter', 'hot')).state, { value: 8 })
    assert.deepEqual(await runtime.ask('counter', 'hot', 'increment', { by: 10 }), { value: 18 })
  })

  it('other actors are untouched by a failed append of one', async () => {
    store.gated = false
    store.failCall = 1
    await assert.rejects(runtime.ask('counter', 'a', 'increment', { by: 1 }), /append 1 failed/)
    assert.deepEqual(await runtime.ask('counter', 'b', 'increment', { by: 1 }), { value: 1 })
    assert.deepEqual(await runtime.ask('counter', 'a', 'increment', { by: 2 }), { value: 2 })
  })
})
