import assert from 'node:assert/strict'
import { gaplessIngest, type EventRecord } from '../../core/index.js'

function event(origin: string, seq: number): EventRecord {
  return {
    actorType: 'thing',
    actorId: 'a',
    origin,
    seq,
    hlc: { wall: seq, logical: 0 },
    type: 'happened',
    payload: {},
  }
}

const keys = (events: readonly EventRecord[]) => events.map((e) => `${e.origin}:${e.seq}`)

describe('the ingest gap rule (gaplessIngest)', () => {
  it('keeps the next seqs of each origin, sorted by origin then seq, whatever the input order', () => {
    const held: Record<string, number> = { a: 2 }
    const { accepted, highestSeqs } = gaplessIngest(
      [event('b', 2), event('a', 4), event('b', 1), event('a', 3)],
      (origin) => held[origin] ?? 0,
    )
    assert.deepEqual(keys(accepted), ['a:3', 'a:4', 'b:1', 'b:2'])
    assert.deepEqual(
      [...highestSeqs],
      [
        ['a', 4],
        ['b', 2],
      ],
    )
  })

  it('drops events the store holds already and repeats within the batch', () => {
    const { accepted, highestSeqs } = gaplessIngest(
      [event('a', 1), event('a', 2), event('a', 3), event('a', 3)],
      () => 2,
    )
    assert.deepEqual(keys(accepted), ['a:3'])
    assert.equal(highestSeqs.get('a'), 3)
  })

  it('stops an origin at its first gap, and keeps the other origins going', () => {
    const { accepted, highestSeqs } = gaplessIngest(
      [event('a', 1), event('a', 3), event('a', 4), event('b', 1)],
      () => 0,
    )
    assert.deepEqual(keys(accepted), ['a:1', 'b:1'])
    assert.deepEqual(Object.fromEntries(highestSeqs), { a: 1, b: 1 })
  })

  it('keeps nothing, and reports no origin, when every event leaves a gap', () => {
    const { accepted, highestSeqs } = gaplessIngest([event('a', 5), event('b', 2)], () => 0)
    assert.deepEqual(accepted, [])
    assert.equal(highestSeqs.size, 0)
  })

  it('leaves the input array as it was', () => {
    const input = [event('a', 2), event('a', 1)]
    assert.deepEqual(keys(gaplessIngest(input, () => 0).accepted), ['a:1', 'a:2'])
    assert.deepEqual(keys(input), ['a:2', 'a:1'])
  })
})
