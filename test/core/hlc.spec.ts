import assert from 'node:assert/strict'
import { compareHlc, HybridLogicalClock, simulatedClock } from '../../core/index.js'

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
