// The file store's in-memory index: merge order per actor whatever the arrival order,
// per-origin ranges, the version vector, snapshot refs that must count their actor's events,
// and the contents it hands to the checkpoint and takes back.
import assert from 'node:assert/strict'
import type { EventKey } from '../../../core/index.js'
import { EventIndex, type SnapshotRef } from '../../../stores/file/event-index.js'

interface Added extends EventKey {
  actorType: string
  actorId: string
}

/** Adds events in the order given; the location of each is derived from its gid. */
function indexOf(events: Added[]): EventIndex {
  const index = new EventIndex()
  events.forEach((event, i) => index.add(event, 1, i * 100, 50 + i))
  return index
}

function ev(origin: string, seq: number, wall: number, actorId = 'a', logical = 0): Added {
  return { actorType: 'thing', actorId, origin, seq, hlc: { wall, logical } }
}

/** The actor's events in the index's merge order, as `origin:seq`. */
function mergeOrder(index: EventIndex, actorId = 'a'): string[] {
  const actor = index.actor('thing', actorId)
  return (actor === undefined ? [] : index.actorGids(actor)).map((gid) => {
    const { origin, seq } = index.identity(gid)
    return `${origin}:${seq}`
  })
}

function snapshotRef(at: EventKey, eventCount: number): SnapshotRef {
  return { segment: 1, offset: 9_000, length: 10, at, eventCount }
}

describe('file store: event index', () => {
  it('gives gids in the order events are added and remembers where each record is', () => {
    const index = new EventIndex()
    assert.equal(index.add(ev('x', 1, 10), 1, 0, 40), 0)
    assert.equal(index.add(ev('x', 2, 11), 2, 64, 41), 1)
    assert.equal(index.count, 2)
    assert.deepEqual(index.location(1), { segment: 2, offset: 64, length: 41 })
    assert.deepEqual(index.identity(1), { origin: 'x', seq: 2 })
  })

  it("keeps an actor's events in merge order (hlc wall, logical, origin, seq) whatever the arrival order", () => {
    const index = indexOf([
      ev('y', 1, 20),
      ev('x', 1, 10),
      ev('x', 2, 20), // same wall as y:1: origin x sorts first
      ev('z', 1, 20, 'a', 1), // same wall, higher logical: after both
      ev('y', 2, 5),
    ])
    assert.deepEqual(mergeOrder(index), ['y:2', 'x:1', 'x:2', 'y:1', 'z:1'])
  })

  it('keeps actors apart, and an unknown actor has no entry', () => {
    const index = indexOf([ev('x', 1, 10, 'a'), ev('x', 2, 11, 'b'), ev('x', 3, 12, 'a')])
    assert.deepEqual(mergeOrder(index, 'a'), ['x:1', 'x:3'])
    assert.deepEqual(mergeOrder(index, 'b'), ['x:2'])
    assert.equal(index.actor('thing', 'c'), undefined)
    assert.equal(index.actor('other', 'a'), undefined)
  })

  it('counts the events of an actor at or before a key (what a read after that key skips)', () => {
    const index = indexOf([ev('x', 1, 10), ev('x', 2, 20), ev('y', 1, 20), ev('x', 3, 30)])
    const entry = index.actor('thing', 'a')
    const key = (origin: string, seq: number, wall: number): EventKey => ({
      origin,
      seq,
      hlc: { wall, logical: 0 },
    })
    assert.equal(index.countUpTo(entry, key('x', 2, 20)), 2)
    assert.equal(index.countUpTo(entry, key('y', 1, 20)), 3)
    assert.equal(index.countUpTo(entry, key('a', 1, 5)), 0)
    assert.equal(index.countUpTo(entry, key('z', 9, 99)), 4)
    assert.equal(index.countUpTo(undefined, key('z', 9, 99)), 0)
  })

  it("reads an origin's events by seq range, clipped to what it holds", () => {
    const index = indexOf([ev('x', 1, 10), ev('y', 1, 11), ev('x', 2, 12), ev('x', 3, 13)])
    const seqs = (gids: number[]) => gids.map((gid) => index.identity(gid).seq)
    assert.deepEqual(seqs(index.originRange('x', 2, 10)), [2, 3])
    assert.deepEqual(seqs(index.originRange('x', 1, 2)), [1, 2])
    assert.deepEqual(index.originRange('x', 4, 10), [])
    assert.deepEqual(index.originRange('x', 1, 0), [])
    assert.deepEqual(index.originRange('nobody', 1, 10), [])
    assert.deepEqual(index.originRange('x', 2, 1), [2])
  })

  it('has each origin at its highest seq in the version vector, and counts per origin', () => {
    const index = indexOf([ev('x', 1, 10), ev('y', 1, 11), ev('x', 2, 12)])
    assert.deepEqual(index.versionVector(), { x: 2, y: 1 })
    assert.equal(index.originCount('x'), 2)
    assert.equal(index.originCount('nobody'), 0)
    assert.deepEqual(new EventIndex().versionVector(), {})
  })

  it('takes a snapshot ref only when it counts every event of its actor up to its key', () => {
    const index = indexOf([ev('x', 1, 10), ev('x', 2, 20)])
    const at = { origin: 'x', seq: 2, hlc: { wall: 20, logical: 0 } }
    assert.equal(index.setSnapshot('thing', 'a', snapshotRef(at, 1)), false)
    assert.equal(index.snapshotOf(index.actor('thing', 'a')), undefined)
    const ref = snapshotRef(at, 2)
    assert.equal(index.setSnapshot('thing', 'a', ref), true)
    assert.equal(index.snapshotOf(index.actor('thing', 'a')), ref)
  })

  it('drops the snapshot ref when an event arrives that sorts before its key, not after', () => {
    const index = indexOf([ev('x', 1, 10), ev('x', 2, 20)])
    const ref = snapshotRef({ origin: 'x', seq: 2, hlc: { wall: 20, logical: 0 } }, 2)
    index.setSnapshot('thing', 'a', ref)
    index.add(ev('x', 3, 30), 1, 1_000, 10)
    assert.equal(index.snapshotOf(index.actor('thing', 'a')), ref)
    index.add(ev('y', 1, 15), 1, 1_100, 10)
    assert.equal(index.snapshotOf(index.actor('thing', 'a')), undefined)
  })

  it('rebuilds the same index from its contents', () => {
    const index = indexOf([ev('x', 1, 10, 'a'), ev('y', 1, 5, 'b'), ev('x', 2, 3, 'a')])
    const ref = snapshotRef({ origin: 'y', seq: 1, hlc: { wall: 5, logical: 0 } }, 1)
    index.setSnapshot('thing', 'b', ref)
    const copy = EventIndex.fromContents(index.contents())
    assert.equal(copy.count, 3)
    assert.deepEqual(copy.versionVector(), { x: 2, y: 1 })
    assert.deepEqual(mergeOrder(copy, 'a'), ['x:2', 'x:1'])
    assert.deepEqual(copy.location(2), index.location(2))
    assert.deepEqual(copy.snapshotOf(copy.actor('thing', 'b')), ref)
    // It goes on like the original: the next seq of x takes the next gid.
    assert.equal(copy.add(ev('x', 3, 40), 1, 5_000, 10), 3)
    assert.deepEqual(copy.originRange('x', 3, 1), [3])
  })

  it('refuses contents whose seqs have a hole or whose actors do not account for every event', () => {
    const index = indexOf([ev('x', 1, 10), ev('x', 2, 11)])
    const contents = index.contents()
    const seqs = contents.columns.seqs.slice()
    seqs[1] = 3
    assert.throws(
      () => EventIndex.fromContents({ ...contents, columns: { ...contents.columns, seqs } }),
      /breaks its origin's seq order/,
    )
    const actors = contents.actors
    const none = { ...actors, typeNos: new Uint32Array(0), ids: [], gidCounts: new Uint32Array(0) }
    assert.throws(
      () => EventIndex.fromContents({ ...contents, actors: none }),
      /events and actors do not add up/,
    )
    assert.throws(
      () =>
        EventIndex.fromContents({
          ...contents,
          actors: { ...actors, gidCounts: new Uint32Array([2]), gids: new Uint32Array([0, 7]) },
        }),
      /names an unknown event/,
    )
    const twice = {
      ...actors,
      typeNos: new Uint32Array([0, 0]),
      ids: ['a', 'a'],
      gidCounts: new Uint32Array([1, 1]),
    }
    assert.throws(() => EventIndex.fromContents({ ...contents, actors: twice }), /listed twice/)
  })

  it('grows past its first capacity and keeps every event', () => {
    const index = new EventIndex()
    const n = 5_000
    for (let seq = 1; seq <= n; seq++) index.add(ev('x', seq, seq, `a${seq % 3}`), 1, seq * 8, 8)
    assert.equal(index.count, n)
    assert.deepEqual(index.versionVector(), { x: n })
    assert.deepEqual(index.location(n - 1), { segment: 1, offset: n * 8, length: 8 })
    assert.equal(index.actorGids(index.actor('thing', 'a0')!).length, Math.floor(n / 3))
  })

  it('keeps every actor in merge order through moves, squeezes of its pool and a rebuild', () => {
    // A fixed pseudo-random sequence: walls out of arrival order, actors interleaved.
    let x = 12345
    const random = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n
    const seqs = new Map<string, number>()
    const events: Added[] = []
    const next = () => {
      const origin = `o${random(3)}`
      const seq = (seqs.get(origin) ?? 0) + 1
      seqs.set(origin, seq)
      return ev(origin, seq, random(1_000), `a${random(60)}`, random(4))
    }
    for (let i = 0; i < 3_000; i++) events.push(next())
    const expected = (actorId: string) =>
      events
        .filter((e) => e.actorId === actorId)
        .sort(
          (a, b) =>
            a.hlc.wall - b.hlc.wall ||
            a.hlc.logical - b.hlc.logical ||
            (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0) ||
            a.seq - b.seq,
        )
        .map((e) => `${e.origin}:${e.seq}`)
    const check = (index: EventIndex) => {
      for (let a = 0; a < 60; a++) assert.deepEqual(mergeOrder(index, `a${a}`), expected(`a${a}`))
    }
    const index = indexOf(events)
    check(index)
    const copy = EventIndex.fromContents(index.contents())
    check(copy)
    for (let i = 0; i < 1_000; i++) {
      const event = next()
      events.push(event)
      copy.add(event, 2, i * 100, 10)
    }
    check(copy)
  })
})
