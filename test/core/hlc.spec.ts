import assert from 'node:assert/strict'
import {
  compareHlc,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  HybridLogicalClock,
  MAX_HLC_LOGICAL,
  simulatedClock,
  type Hlc,
} from '../../core/index.js'

describe('HybridLogicalClock', () => {
  it('issues strictly increasing stamps even when the wall clock stands still or goes back', () => {
    const clock = simulatedClock(5_000)
    const hlc = new HybridLogicalClock(clock)
    const a = hlc.now()
    const b = hlc.now()
    clock.set(4_000) // the wall clock jumps back
    const c = hlc.now()
    clock.set(6_000)
    const d = hlc.now()
    assert.deepEqual(
      [a, b, c, d],
      [
        { wall: 5_000, logical: 0 },
        { wall: 5_000, logical: 1 },
        { wall: 5_000, logical: 2 },
        { wall: 6_000, logical: 0 },
      ],
    )
  })

  it('moves past an observed remote stamp, so the next local stamp sorts after it', () => {
    const clock = simulatedClock(1_000)
    const hlc = new HybridLogicalClock(clock)
    hlc.observe({ wall: 9_000, logical: 7 })
    const next = hlc.now()
    assert.ok(compareHlc(next, { wall: 9_000, logical: 7 }) > 0)
    hlc.observe({ wall: 2_000, logical: 0 }) // an older stamp changes nothing
    assert.ok(compareHlc(hlc.now(), next) > 0)
  })

  it('merges a stamp up to maxSkewMs ahead of the wall clock and refuses one further ahead', () => {
    const clock = simulatedClock(10_000)
    const hlc = new HybridLogicalClock(clock, { maxSkewMs: 500 })
    assert.equal(hlc.observe({ wall: 10_500, logical: 3 }), true)
    assert.deepEqual(hlc.peek(), { wall: 10_500, logical: 3 })
    // ~23 h ahead with a full counter: the reproduced attack. Nothing moves.
    assert.equal(hlc.observe({ wall: 10_000 + 23 * 3_600_000, logical: MAX_HLC_LOGICAL }), false)
    assert.equal(hlc.observe({ wall: 10_501, logical: 0 }), false)
    assert.deepEqual(hlc.peek(), { wall: 10_500, logical: 3 })
    assert.deepEqual(hlc.now(), { wall: 10_500, logical: 4 })
    // Once the wall clock catches up, the same stamp is merged.
    clock.set(10_001)
    assert.equal(hlc.observe({ wall: 10_501, logical: 0 }), true)
  })

  it('defaults to a skew bound of one minute', () => {
    const clock = simulatedClock(0)
    const hlc = new HybridLogicalClock(clock)
    assert.equal(hlc.maxSkewMs, DEFAULT_MAX_CLOCK_SKEW_MS)
    assert.equal(DEFAULT_MAX_CLOCK_SKEW_MS, 60_000)
    assert.equal(hlc.observe({ wall: 60_000, logical: 0 }), true)
    assert.equal(hlc.observe({ wall: 60_001, logical: 0 }), false)
  })

  it('never lets the logical counter pass MAX_HLC_LOGICAL: the wall part moves on by 1 ms', () => {
    const clock = simulatedClock(1_000)
    const hlc = new HybridLogicalClock(clock)
    assert.equal(hlc.observe({ wall: 1_000, logical: MAX_HLC_LOGICAL - 1 }), true)
    const stamps = [hlc.now(), hlc.now(), hlc.now()]
    assert.deepEqual(stamps, [
      { wall: 1_000, logical: MAX_HLC_LOGICAL },
      { wall: 1_001, logical: 0 },
      { wall: 1_001, logical: 1 },
    ])
    // A merged stamp with a full counter: the next local one still sorts after it.
    assert.equal(hlc.observe({ wall: 2_000, logical: MAX_HLC_LOGICAL }), true)
    const next = hlc.now()
    assert.deepEqual(next, { wall: 2_001, logical: 0 })
  })

  it('stays monotonic through skewed observes, counter overflow and a wall clock that jumps back', () => {
    const clock = simulatedClock(50_000)
    const hlc = new HybridLogicalClock(clock, { maxSkewMs: 1_000 })
    let previous: Hlc = hlc.now()
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    for (let i = 0; i < 5_000; i++) {
      const r = random()
      if (r < 0.3) clock.set(clock.now() + Math.floor(random() * 2_000) - 1_000)
      else if (r < 0.6) {
        const wall = clock.now() + Math.floor(random() * 4_000) - 1_500
        const logical = random() < 0.5 ? MAX_HLC_LOGICAL : Math.floor(random() * 10)
        const merged = hlc.observe({ wall, logical })
        assert.equal(merged, wall <= clock.now() + 1_000)
        if (!merged) assert.ok(hlc.peek().wall <= Math.max(previous.wall, clock.now() + 1_000))
      }
      const stamp = hlc.now()
      assert.ok(
        compareHlc(stamp, previous) > 0,
        `${JSON.stringify(stamp)} after ${JSON.stringify(previous)}`,
      )
      assert.ok(stamp.logical <= MAX_HLC_LOGICAL)
      previous = stamp
    }
  })

  it('the simulated clock fires timers in order when advanced, and cancelled ones never', () => {
    const clock = simulatedClock(0)
    const fired: string[] = []
    clock.setTimer(30, () => fired.push('b'))
    clock.setTimer(10, () => fired.push('a'))
    const cancel = clock.setTimer(20, () => fired.push('never'))
    cancel()
    clock.advance(25)
    assert.deepEqual(fired, ['a'])
    clock.advance(10)
    assert.deepEqual(fired, ['a', 'b'])
    assert.equal(clock.now(), 35)
  })
})
