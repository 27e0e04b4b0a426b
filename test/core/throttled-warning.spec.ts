import assert from 'node:assert/strict'
import { silentLogger, simulatedClock, ThrottledWarning } from '../../core/index.js'

describe('ThrottledWarning', () => {
  /** A warning of window `everyMs` on a simulated clock, and the fields of each line it wrote. */
  function throttled(everyMs: number) {
    const clock = simulatedClock()
    const lines: Array<Record<string, unknown>> = []
    const logger = {
      ...silentLogger(),
      warn: (_message: string, fields?: Record<string, unknown>) => void lines.push(fields ?? {}),
    }
    return { clock, lines, warning: new ThrottledWarning(logger, 'failed', everyMs, clock) }
  }

  it('writes the first at once, then at most one per window, counting those left out', () => {
    const { clock, lines, warning } = throttled(10_000)
    warning.warn({ n: 1 })
    warning.warn({ n: 2 })
    warning.warn({ n: 3 })
    assert.deepEqual(lines, [{ n: 1 }])
    clock.advance(5_000)
    warning.warn({ n: 4 })
    assert.equal(lines.length, 1)
    clock.advance(5_000)
    // The window ended: the last one left out is told, with the count.
    assert.deepEqual(lines, [{ n: 1 }, { n: 4, suppressed: 3 }])
    clock.advance(5_000)
    warning.warn({ n: 5 })
    assert.equal(lines.length, 2, 'still within the window of the last line written')
    clock.advance(60_000)
    assert.deepEqual(lines.at(-1), { n: 5, suppressed: 1 })
    assert.equal(lines.length, 3)
  })

  it('a burst that stops is counted once its window ends, and nothing more is written', () => {
    const { clock, lines, warning } = throttled(1_000)
    for (let n = 0; n < 100; n++) warning.warn({ n })
    clock.advance(999)
    assert.deepEqual(lines, [{ n: 0 }])
    clock.advance(1)
    assert.deepEqual(lines, [{ n: 0 }, { n: 99, suppressed: 99 }])
    clock.advance(10_000)
    assert.equal(lines.length, 2)
  })

  it('a line written after its window cancels the end-of-window line of that window', () => {
    const { clock, lines, warning } = throttled(1_000)
    warning.warn({ n: 0 })
    warning.warn({ n: 1 })
    clock.set(clock.now() + 1_500) // the timer is late: the next line comes first
    warning.warn({ n: 2 })
    assert.deepEqual(lines, [{ n: 0 }, { n: 2, suppressed: 1 }])
    warning.warn({ n: 3 })
    clock.advance(200) // the first window's timer falls due now
    assert.equal(lines.length, 2, 'no second line inside the window')
    clock.advance(800)
    assert.deepEqual(lines.at(-1), { n: 3, suppressed: 1 })
  })

  it('close() writes the count left out and fires nothing after', () => {
    const { clock, lines, warning } = throttled(1_000)
    warning.warn({ n: 0 })
    warning.warn({ n: 1 })
    warning.close()
    assert.deepEqual(lines, [{ n: 0 }, { n: 1, suppressed: 1 }])
    clock.advance(5_000)
    warning.close()
    assert.equal(lines.length, 2)
  })
})
