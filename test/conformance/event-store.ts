// The contract every EventStore keeps. Each store's spec runs it in a few lines:
//   eventStoreConformance('file store', async () => ({ store, reopen, cleanup }))
import assert from 'node:assert/strict'
import type { EventDraft, EventRecord } from '../../core/event.js'
import type { EventStore } from '../../core/event-store.js'
import type { Hlc } from '../../core/hlc.js'

export interface StoreFixture {
  /** A started, empty store. */
  store: EventStore
  /** Stops the store and opens it again on the same data; omitted by stores that keep nothing. */
  reopen?: () => Promise<EventStore>
  /** Stops whatever the fixture started and removes its data. */
  cleanup: () => Promise<void>
}

const hlc = (wall: number, logical = 0): Hlc => ({ wall, logical })

function draft(
  actorId: string,
  wall: number,
  origin = 'node-a',
  payload: unknown = { n: wall },
): EventDraft {
  return { actorType: 'thing', actorId, origin, hlc: hlc(wall), type: 'changed', payload }
}

function record(
  actorId: string,
  origin: string,
  seq: number,
  wall: number,
  logical = 0,
): EventRecord {
  return {
    actorType: 'thing',
    actorId,
    origin,
    seq,
    hlc: hlc(wall, logical),
    type: 'changed',
    payload: { origin, seq },
  }
}

const keys = (events: readonly EventRecord[]) => events.map((e) => `${e.origin}:${e.seq}`)

export function eventStoreConformance(name: string, setup: () => Promise<StoreFixture>): void {
  describe(`EventStore conformance: ${name}`, function () {
    this.timeout(30_000)
    let fixture: StoreFixture
    let store: EventStore

    beforeEach(async () => {
      fixture = await setup()
      store = fixture.store
    })

    afterEach(async () => {
      await fixture?.cleanup()
    })

    it('append gives each origin contiguous seqs from 1 and returns records in draft order', async () => {
      const first = await store.append([draft('x', 10), draft('y', 11)])
      const second = await store.append([draft('x', 12), draft('z', 13, 'node-b')])
      assert.deepEqual(
        first.map((e) => e.seq),
        [1, 2],
      )
      assert.deepEqual(
        second.map((e) => [e.origin, e.seq]),
        [
          ['node-a', 3],
          ['node-b', 1],
        ],
      )
      assert.equal(first[0]!.actorId, 'x')
      assert.deepEqual(first[0]!.payload, { n: 10 })
      assert.deepEqual(await store.versionVector(), { 'node-a': 3, 'node-b': 1 })
    })

    it('readActor returns an actor`s events in (hlc, origin, seq) order whatever the arrival order', async () => {
      await store.append([draft('x', 50)]) // node-a:1 at 50
      await store.ingest([
        record('x', 'node-c', 1, 20),
        record('x', 'node-b', 1, 50),
        record('y', 'node-b', 2, 5),
      ])
      await store.ingest([record('x', 'node-c', 2, 50), record('x', 'node-c', 3, 50, 1)])
      const events = await store.readActor('thing', 'x')
      assert.deepEqual(keys(events), ['node-c:1', 'node-a:1', 'node-b:1', 'node-c:2', 'node-c:3'])
      assert.deepEqual(keys(await store.readActor('thing', 'y')), ['node-b:2'])
      assert.deepEqual(await store.readActor('thing', 'nobody'), [])
    })

    it('readActor with `after` returns only the events that sort after the key', async () => {
      await store.ingest([
        record('x', 'o', 1, 10),
        record('x', 'o', 2, 20),
        record('x', 'o', 3, 30),
      ])
      const after = await store.readActor('thing', 'x', {
        after: { hlc: hlc(20), origin: 'o', seq: 2 },
      })
      assert.deepEqual(keys(after), ['o:3'])
      const between = await store.readActor('thing', 'x', {
        after: { hlc: hlc(15), origin: 'zzz', seq: 99 },
      })
      assert.deepEqual(keys(between), ['o:2', 'o:3'])
    })

    it('readOrigin returns a seq range of one origin, bounded by limit', async () => {
      for (let i = 0; i < 5; i++) await store.append([draft(`a${i}`, 100 + i)])
      await store.append([draft('b', 200, 'other')])
      assert.deepEqual(keys(await store.readOrigin('node-a', 2, 2)), ['node-a:2', 'node-a:3'])
      assert.deepEqual(keys(await store.readOrigin('node-a', 4, 100)), ['node-a:4', 'node-a:5'])
      assert.deepEqual(await store.readOrigin('node-a', 6, 10), [])
      assert.deepEqual(await store.readOrigin('unknown', 1, 10), [])
    })

    it('ingest is idempotent: a known event changes nothing', async () => {
      const events = [record('x', 'r', 1, 10), record('x', 'r', 2, 11)]
      assert.equal((await store.ingest(events)).length, 2)
      assert.deepEqual(await store.ingest(events), [])
      assert.deepEqual(await store.ingest([events[1]!]), [])
      assert.deepEqual(keys(await store.readActor('thing', 'x')), ['r:1', 'r:2'])
      assert.deepEqual(await store.versionVector(), { r: 2 })
    })

    it('keeps the signature a replicated event carries, through every read and a reopen', async () => {
      // Two chunks of origin r: seqs 1-2 and 2-3 (chunks may overlap), and an unsigned event.
      const sigA = new Uint8Array(64).fill(7)
      const sigB = Uint8Array.from({ length: 64 }, (_, i) => i)
      const events: EventRecord[] = [
        record('x', 'r', 1, 10),
        { ...record('y', 'r', 2, 11), sig: { from: 1, bytes: sigA } },
        { ...record('x', 'r', 3, 12, 4), sig: { from: 2, bytes: sigB } },
        { ...record('x', 'r', 4, 13), payload: { ['__proto__']: 1, deep: [[1]] } },
      ]
      await store.ingest(events)
      const sigs = (read: readonly EventRecord[]) =>
        read.map((e) => (e.sig ? [e.seq, e.sig.from, [...e.sig.bytes]] : [e.seq]))
      const expected = sigs(events)
      assert.deepEqual(sigs(await store.readOrigin('r', 1, 10)), expected)
      const byActor = [
        ...(await store.readActor('thing', 'x')),
        ...(await store.readActor('thing', 'y')),
      ].sort((a, b) => a.seq - b.seq)
      assert.deepEqual(sigs(byActor), expected)
      assert.deepEqual(
        (await store.readOrigin('r', 1, 10)).map((e) => e.payload),
        events.map((e) => e.payload),
      )
      if (!fixture.reopen) return
      store = await fixture.reopen()
      assert.deepEqual(sigs(await store.readOrigin('r', 1, 10)), expected)
    })

    it('ingest keeps per-origin order: an event after a gap waits until the gap is filled', async () => {
      assert.deepEqual(
        keys(await store.ingest([record('x', 'r', 1, 10), record('x', 'r', 3, 12)])),
        ['r:1'],
      )
      assert.deepEqual(await store.versionVector(), { r: 1 })
      assert.deepEqual(await store.readOrigin('r', 1, 10).then(keys), ['r:1'])
      // Out of order within one batch is fine: the store sorts by seq.
      assert.deepEqual(
        keys(await store.ingest([record('x', 'r', 3, 12), record('x', 'r', 2, 11)])),
        ['r:2', 'r:3'],
      )
      assert.deepEqual(await store.versionVector(), { r: 3 })
    })

    it('concurrent appends get unique, gap-free seqs', async () => {
      const batches = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.append(Array.from({ length: 1 + (i % 3) }, (_, j) => draft(`c${j}`, 1000 + i))),
        ),
      )
      const seqs = batches
        .flat()
        .map((e) => e.seq)
        .sort((a, b) => a - b)
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
      )
      assert.deepEqual(await store.versionVector(), { 'node-a': seqs.length })
      const all = await store.readOrigin('node-a', 1, 10_000)
      assert.equal(all.length, seqs.length)
    })

    it('round-trips JSON payloads exactly', async () => {
      const payloads = [
        null,
        0,
        -1.5,
        'héllo ✓',
        [1, 'two', { three: 3 }],
        { nested: { deep: [true, false, null] }, empty: {} },
      ]
      const stored = await store.append(payloads.map((p, i) => draft('p', 10 + i, 'node-a', p)))
      const read = await store.readActor('thing', 'p')
      assert.deepEqual(
        read.map((e) => e.payload),
        payloads,
      )
      assert.deepEqual(read, stored)
    })

    it('saves and loads snapshots', async () => {
      const events = await store.append([draft('s', 10), draft('s', 11)])
      assert.equal(await store.loadSnapshot('thing', 's'), undefined)
      const snapshot = {
        actorType: 'thing',
        actorId: 's',
        state: { total: 2 },
        at: events[1]!,
        eventCount: 2,
      }
      await store.saveSnapshot(snapshot)
      const loaded = await store.loadSnapshot('thing', 's')
      assert.deepEqual(loaded?.state, { total: 2 })
      assert.equal(loaded?.eventCount, 2)
      assert.equal(loaded?.at.seq, 2)
      assert.equal(await store.loadSnapshot('thing', 'other'), undefined)
    })

    it('keeps the idempotency-key bytes of a snapshot, with a plain state and with a __proto__ one', async () => {
      const events = await store.append([draft('l', 10)])
      const ledger = Uint8Array.from([0x92, 0x90, 0x90, 1, 2, 255])
      for (const state of [{ total: 1 }, JSON.parse('{"__proto__": {"x": 1}}') as unknown]) {
        await store.saveSnapshot({
          actorType: 'thing',
          actorId: 'l',
          state,
          at: events[0]!,
          eventCount: 1,
          ledger,
        })
        const loaded = await store.loadSnapshot('thing', 'l')
        assert.deepEqual(loaded?.state, state)
        assert.deepEqual(loaded?.ledger && [...loaded.ledger], [...ledger])
      }
      await store.saveSnapshot({
        actorType: 'thing',
        actorId: 'l',
        state: 1,
        at: events[0]!,
        eventCount: 1,
      })
      assert.equal((await store.loadSnapshot('thing', 'l'))?.ledger, undefined)
    })

    it('drops a snapshot when an event of that actor arrives that sorts before it', async () => {
      const [e1] = await store.append([draft('s', 100)])
      await store.saveSnapshot({
        actorType: 'thing',
        actorId: 's',
        state: 1,
        at: e1!,
        eventCount: 1,
      })
      await store.ingest([record('s', 'remote', 1, 200)]) // later: the snapshot stays valid
      assert.ok(await store.loadSnapshot('thing', 's'))
      await store.ingest([record('s', 'remote', 2, 50)]) // earlier: the snapshot no longer covers its prefix
      assert.equal(await store.loadSnapshot('thing', 's'), undefined)
    })

    it('ignores a snapshot that does not count every event up to its key', async () => {
      const [e1, e2] = await store.append([draft('s', 100), draft('s', 101)])
      await store.saveSnapshot({
        actorType: 'thing',
        actorId: 's',
        state: 'stale',
        at: e2!,
        eventCount: 1,
      })
      assert.equal(await store.loadSnapshot('thing', 's'), undefined)
      await store.saveSnapshot({
        actorType: 'thing',
        actorId: 's',
        state: 'ok',
        at: e1!,
        eventCount: 1,
      })
      assert.equal((await store.loadSnapshot('thing', 's'))?.state, 'ok')
    })

    it('refuses every call with an already aborted signal (AbortedError) and writes nothing', async () => {
      await store.append([draft('k', 1)])
      const signal = AbortSignal.abort(new Error('the caller gave up'))
      const aborted = { name: 'AbortedError' }
      await assert.rejects(store.append([draft('k', 2)], { signal }), aborted)
      await assert.rejects(store.ingest([record('k', 'remote', 1, 5)], { signal }), aborted)
      await assert.rejects(store.readActor('thing', 'k', { signal }), aborted)
      await assert.rejects(store.readOrigin('node-a', 1, 10, { signal }), aborted)
      await assert.rejects(store.versionVector({ signal }), aborted)
      await assert.rejects(store.loadSnapshot('thing', 'k', { signal }), aborted)
      assert.deepEqual(await store.versionVector(), { 'node-a': 1 })
      assert.deepEqual(keys(await store.readActor('thing', 'k')), ['node-a:1'])
    })

    it('refuses every call once stopped (NotRunningError), and stop is idempotent', async () => {
      await store.append([draft('k', 1)])
      await store.stop()
      await store.stop()
      const notRunning = { name: 'NotRunningError' }
      await assert.rejects(store.append([draft('k', 2)]), notRunning)
      await assert.rejects(store.ingest([record('k', 'remote', 1, 5)]), notRunning)
      await assert.rejects(store.readActor('thing', 'k'), notRunning)
      await assert.rejects(store.readOrigin('node-a', 1, 10), notRunning)
      await assert.rejects(store.versionVector(), notRunning)
      await assert.rejects(store.loadSnapshot('thing', 'k'), notRunning)
      await assert.rejects(
        store.saveSnapshot({
          actorType: 'thing',
          actorId: 'k',
          state: {},
          at: record('k', 'node-a', 1, 1),
          eventCount: 1,
        }),
        notRunning,
      )
    })

    it('keeps events, seqs, vector and snapshots across a reopen', async function () {
      if (!fixture.reopen) return this.skip()
      const appended = await store.append([draft('k', 10), draft('k', 11)])
      await store.ingest([record('k', 'remote', 1, 5)])
      await store.saveSnapshot({
        actorType: 'thing',
        actorId: 'k',
        state: { ok: true },
        at: appended[1]!,
        eventCount: 3,
      })
      store = await fixture.reopen()
      assert.deepEqual(await store.versionVector(), { 'node-a': 2, remote: 1 })
      assert.deepEqual(keys(await store.readActor('thing', 'k')), [
        'remote:1',
        'node-a:1',
        'node-a:2',
      ])
      assert.deepEqual((await store.loadSnapshot('thing', 'k'))?.state, { ok: true })
      const [next] = await store.append([draft('k', 12)])
      assert.equal(next!.seq, 3)
      assert.deepEqual(await store.ingest([record('k', 'remote', 1, 5)]), [])
    })
  })
}
