import assert from 'node:assert/strict'
import {
  simulatedClock,
  type EventDraft,
  type EventRecord,
  type EventStore,
} from '../../core/index.js'
import { AppendMeter } from '../../node/load/index.js'
import { MemoryEventStore } from '../../stores/memory/index.js'

/** A memory store whose appends wait until the test settles them, one by one. */
function heldStore(): {
  store: EventStore
  held: Array<{ release: () => void; fail: (error: Error) => void }>
} {
  const inner = new MemoryEventStore()
  const held: Array<{ release: () => void; fail: (error: Error) => void }> = []
  const store = Object.create(inner) as EventStore
  store.append = (drafts: readonly EventDraft[]) =>
    new Promise<EventRecord[]>((resolve, reject) => {
      held.push({
        release: () => resolve(inner.append(drafts)),
        fail: reject,
      })
    })
  return { store: Object.assign(store, { start: () => inner.start() }), held }
}

const draft = (id: string): EventDraft => ({
  actorType: 'counter',
  actorId: id,
  type: 'incremented',
  payload: { by: 1 },
  origin: 'test-origin',
  hlc: { wall: 1, logical: 0 },
})

describe('node: the append meter (the overload detector’s store latency)', () => {
  it('reports the mean latency of finished appends, then resets', async () => {
    const clock = simulatedClock()
    const { store, held } = heldStore()
    await store.start()
    const meter = new AppendMeter(store, clock)
    const first = meter.store.append([draft('a')])
    clock.advance(10)
    const second = meter.store.append([draft('b')])
    clock.advance(20)
    held[0]!.release()
    held[1]!.release()
    const [records] = await Promise.all([first, second])
    assert.equal(records?.[0]?.seq, 1, 'the records are the inner store’s')
    assert.equal(meter.takeMs(), 25, 'appends of 30 ms and 20 ms')
    assert.equal(meter.takeMs(), 0, 'nothing finished since the last call')
  })

  it('reports the age of an append still under way, even when another that started in the same ms finished', async () => {
    const clock = simulatedClock()
    const { store, held } = heldStore()
    await store.start()
    const meter = new AppendMeter(store, clock)
    const quick = meter.store.append([draft('a')])
    const stuck = meter.store.append([draft('b')])
    held[0]!.release()
    await quick
    clock.advance(5_000)
    assert.equal(meter.takeMs(), 5_000, 'the stuck append started 5 s ago')
    held[1]!.fail(new Error('disk gone'))
    await assert.rejects(stuck, /disk gone/)
    assert.equal(meter.takeMs(), 5_000, 'the failed append counts with its latency')
    assert.equal(meter.takeMs(), 0, 'nothing under way any more')
  })

  it('turns a store that throws into a rejection, and forgets the append', async () => {
    const clock = simulatedClock()
    const store = Object.create(new MemoryEventStore()) as EventStore
    store.append = () => {
      throw new Error('thrown, not rejected')
    }
    const meter = new AppendMeter(store, clock)
    await assert.rejects(meter.store.append([draft('a')]), /thrown, not rejected/)
    clock.advance(1_000)
    assert.equal(meter.takeMs(), 0, 'no append is left under way')
  })
})
