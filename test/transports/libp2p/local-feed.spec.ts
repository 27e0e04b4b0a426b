import assert from 'node:assert/strict'
import {
  simulatedClock,
  type EventRecord,
  type SimulatedClock,
  type VersionVector,
} from '../../../core/index.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'
import {
  LocalFeed,
  MAX_LAG_MARKERS_PER_ORIGIN,
  type LocalFeedListener,
} from '../../../transports/libp2p/local-feed.js'

/** A listener that records what the feed told it. */
class RecordingListener implements LocalFeedListener {
  readonly offers: Array<{ events: readonly EventRecord[]; fromPeer: string | undefined }> = []
  pokes = 0

  offer(events: readonly EventRecord[], fromPeer: string | undefined): void {
    this.offers.push({ events, fromPeer })
  }

  poke(): void {
    this.pokes++
  }
}

describe('LocalFeed', () => {
  let clock: SimulatedClock
  let store: MemoryEventStore
  let feed: LocalFeed

  /** Appends `count` events of `origin` to the store; returns the records. */
  async function append(origin: string, count = 1): Promise<EventRecord[]> {
    const drafts = Array.from({ length: count }, () => ({
      actorType: 'journal',
      actorId: 'a',
      origin,
      hlc: { wall: clock.now(), logical: 0 },
      type: 'written',
      payload: { line: 'x' },
    }))
    return store.append(drafts)
  }

  beforeEach(async () => {
    clock = simulatedClock()
    store = new MemoryEventStore()
    await store.start()
    feed = new LocalFeed(store, clock)
  })

  afterEach(() => store.stop())

  it('starts from the store vector', async () => {
    await append('eu', 3)
    await append('us', 1)
    await feed.start()
    assert.deepEqual({ ...feed.known }, { eu: 3, us: 1 })
  })

  it('advances the known vector by add and offers the batch to every listener', async () => {
    await feed.start()
    const first = new RecordingListener()
    const second = new RecordingListener()
    feed.subscribe(first)
    feed.subscribe(second)
    const events = await append('eu', 2)
    feed.add(events, 'peer-1')
    assert.deepEqual({ ...feed.known }, { eu: 2 })
    for (const listener of [first, second]) {
      assert.equal(listener.offers.length, 1)
      assert.deepEqual(listener.offers[0], { events, fromPeer: 'peer-1' })
      assert.equal(listener.pokes, 0)
    }
    const [local] = await append('us')
    feed.add([local!])
    assert.deepEqual({ ...feed.known }, { eu: 2, us: 1 })
    assert.deepEqual(first.offers[1], { events: [local], fromPeer: undefined })
  })

  it('offers nothing for events it knows already, nor for an empty batch', async () => {
    const events = await append('eu', 2)
    await feed.start()
    const listener = new RecordingListener()
    feed.subscribe(listener)
    feed.add(events)
    feed.add(events.slice(0, 1), 'peer-1')
    feed.add([])
    assert.equal(listener.offers.length, 0)
    assert.deepEqual({ ...feed.known }, { eu: 2 })
  })

  it('stops offering to a listener once it unsubscribes', async () => {
    await feed.start()
    const listener = new RecordingListener()
    const unsubscribe = feed.subscribe(listener)
    feed.add(await append('eu'))
    unsubscribe()
    feed.add(await append('eu'))
    assert.equal(listener.offers.length, 1)
    assert.deepEqual({ ...feed.known }, { eu: 2 })
  })

  it('refresh finds events that reached the store by another path and pokes the listeners', async () => {
    await feed.start()
    const listener = new RecordingListener()
    feed.subscribe(listener)
    await append('eu', 4)
    assert.deepEqual({ ...feed.known }, {})
    await feed.refresh()
    assert.deepEqual({ ...feed.known }, { eu: 4 })
    assert.equal(listener.pokes, 1)
    assert.equal(listener.offers.length, 0)
    await feed.refresh()
    assert.equal(listener.pokes, 1, 'a refresh that finds nothing new pokes nobody')
  })

  it('measures lag as the age of the oldest event the peer lacks', async () => {
    await feed.start()
    feed.add(await append('eu'))
    clock.advance(100)
    feed.add(await append('eu'))
    clock.advance(50)
    feed.add(await append('us'))
    clock.advance(25)
    assert.equal(feed.lagMs({}), 175)
    assert.equal(feed.lagMs({ eu: 1 }), 75)
    assert.equal(feed.lagMs({ eu: 2 }), 25)
    assert.equal(feed.lagMs({ eu: 2, us: 1 }), 0)
    assert.equal(feed.lagMs({ eu: 9, us: 9 }), 0, 'a peer ahead lags by nothing')
  })

  it('times the events a refresh found from the refresh', async () => {
    await feed.start()
    await append('eu', 2)
    clock.advance(40)
    await feed.refresh()
    clock.advance(10)
    assert.equal(feed.lagMs({}), 10)
    assert.equal(feed.lagMs({ eu: 1 }), 10)
  })

  it('prune forgets the markers every peer acknowledged, and keeps the others', async () => {
    await feed.start()
    feed.add(await append('eu'))
    clock.advance(100)
    feed.add(await append('eu'))
    clock.advance(100)
    feed.add(await append('eu'))
    clock.advance(100)
    const peers: VersionVector[] = [{ eu: 2 }, { eu: 1 }]
    feed.prune(peers)
    // The marker of seq 1 is gone: a peer that holds nothing is now timed from seq 2.
    assert.equal(feed.lagMs({}), 200)
    // Seq 2 was not acknowledged by every peer: its marker stays.
    assert.equal(feed.lagMs({ eu: 1 }), 200)
    assert.equal(feed.lagMs({ eu: 2 }), 100)
    feed.prune([{ eu: 3 }])
    assert.equal(feed.lagMs({ eu: 2 }), 0, 'no marker left for the missing events')
  })

  it(`thins the markers past ${MAX_LAG_MARKERS_PER_ORIGIN} per origin, overstating lag, never understating it`, async () => {
    await feed.start()
    const addedAt = new Map<number, number>()
    const total = MAX_LAG_MARKERS_PER_ORIGIN + 1
    for (let i = 0; i < total; i++) {
      const [event] = await append('eu')
      feed.add([event!])
      addedAt.set(event!.seq, clock.now())
      clock.advance(1)
    }
    assert.equal(feed.known.eu, total)
    // Before thinning, a peer at seq 1 lagged from seq 2's time; neighbours (1, 2) merged
    // into one marker at seq 2 with seq 1's time, so the lag now counts from seq 1's time.
    assert.equal(feed.lagMs({ eu: 1 }), clock.now() - addedAt.get(1)!)
    assert.equal(feed.lagMs({ eu: 3 }), clock.now() - addedAt.get(3)!)
    // The last marker, alone in its pair, is exact.
    assert.equal(feed.lagMs({ eu: total - 1 }), clock.now() - addedAt.get(total)!)
    for (let held = 0; held < total; held++) {
      const trueLag = clock.now() - addedAt.get(held + 1)!
      const lag = feed.lagMs({ eu: held })
      assert.ok(lag >= trueLag, `held ${held}: lag ${lag} < true lag ${trueLag}`)
      assert.ok(lag <= trueLag + 1, `held ${held}: lag ${lag} overstated by more than one merge`)
    }
  })

  it('keeps at most the marker limit per origin however long the origin grows', async () => {
    await feed.start()
    const addedAt = new Map<number, number>()
    const total = 4 * MAX_LAG_MARKERS_PER_ORIGIN
    for (let i = 0; i < total; i++) {
      const [event] = await append('eu')
      feed.add([event!])
      addedAt.set(event!.seq, clock.now())
      clock.advance(1)
    }
    // Each marker yields one lag value: the distinct lags over every held seq count them.
    const lags = new Set<number>()
    for (let held = 0; held < total; held++) {
      const trueLag = clock.now() - addedAt.get(held + 1)!
      const lag = feed.lagMs({ eu: held })
      assert.ok(lag >= trueLag, `held ${held}: lag ${lag} < true lag ${trueLag}`)
      lags.add(lag)
    }
    assert.ok(lags.size <= MAX_LAG_MARKERS_PER_ORIGIN, `${lags.size} markers kept`)
    assert.ok(lags.size > 1, 'thinning keeps more than one marker')
    assert.equal(feed.lagMs({ eu: total - 1 }), 1, 'the newest marker stays exact')
  })

  it('gathers what is added within coalesceMs of its last offer into one offer, and seals its own run once', async () => {
    const seals: number[] = []
    const sig = { from: 0, bytes: new Uint8Array(64) }
    feed = new LocalFeed(store, clock, {
      coalesceMs: 2,
      isOwn: (origin) => origin === 'eu',
      seal: (run) => {
        seals.push(run.length)
        return run.map((e, i) =>
          i === run.length - 1 ? { ...e, sig: { ...sig, from: run[0]!.seq } } : e,
        )
      },
    })
    await feed.start()
    const listener = new RecordingListener()
    feed.subscribe(listener)
    feed.add(await append('eu'))
    assert.equal(listener.offers.length, 1, 'after a quiet spell an add is offered at once')
    feed.add(await append('eu'))
    feed.add(await append('eu'))
    const relayed = await append('us', 2)
    feed.add(relayed, 'peer-1')
    assert.deepEqual({ ...feed.known }, { eu: 3, us: 2 }, 'known at once (lag, hello)')
    assert.deepEqual({ ...feed.offered }, { eu: 1 }, 'offered with the next batch')
    assert.equal(listener.offers.length, 1)
    clock.advance(1)
    assert.equal(listener.offers.length, 1)
    clock.advance(1)
    assert.deepEqual(
      listener.offers
        .slice(1)
        .map((o) => [o.fromPeer, o.events.map((e) => [e.origin, e.seq, e.sig?.from])]),
      [
        [
          undefined,
          [
            ['eu', 2, undefined],
            ['eu', 3, 2],
          ],
        ],
        [
          'peer-1',
          [
            ['us', 1, undefined],
            ['us', 2, undefined],
          ],
        ],
      ],
      'two adds of its own in one offer, sealed once; relayed events as they came',
    )
    assert.deepEqual(seals, [1, 2])
    assert.deepEqual({ ...feed.offered }, { eu: 3, us: 2 })
    clock.advance(10)
    feed.add(await append('eu'))
    assert.equal(listener.offers.length, 4, 'a quiet spell again: at once')
    feed.add(await append('eu'))
    feed.stop()
    clock.advance(10)
    assert.equal(listener.offers.length, 4, 'stop cancels the pending offer')
  })

  it('waits in proportion to the rate of adds: not at all when quiet, coalesceMs from coalesceFullRate on', async () => {
    feed = new LocalFeed(store, clock, { coalesceMs: 10, coalesceFullRate: 1_000 })
    await feed.start()
    const listener = new RecordingListener()
    feed.subscribe(listener)
    /** Adds `perMs` events every `everyMs` for `ms`; returns the offers made meanwhile. */
    async function write(perMs: number, everyMs: number, ms: number): Promise<number> {
      const before = listener.offers.length
      for (let t = 0; t < ms; t += everyMs) {
        feed.add(await append('eu', perMs))
        clock.advance(everyMs)
      }
      return listener.offers.length - before
    }
    assert.equal(await write(1, 20, 400), 20, '50 events/s: every add offered at once')
    assert.equal(feed.waitMs(), 0)
    await write(1, 2, 200)
    assert.ok(
      Math.abs(feed.waitMs() - 5) < 0.2,
      `500 events/s, half the full rate: half of coalesceMs (${feed.waitMs()} ms)`,
    )
    const offers = await write(10, 1, 200)
    assert.equal(feed.waitMs(), 10, '10,000 events/s: the whole coalesceMs')
    assert.ok(offers <= 200 / 10 + 2, `${offers} offers in 200 ms at one per 10 ms at most`)
    clock.advance(10)
    assert.equal(feed.offered.eu, feed.known.eu, 'the last batch went within coalesceMs')
    clock.advance(300)
    assert.equal(feed.waitMs(), 0, 'quiet again')
    const quiet = listener.offers.length
    feed.add(await append('eu'))
    assert.equal(listener.offers.length, quiet + 1, 'after a quiet spell: at once')
  })
})
