import assert from 'node:assert/strict'
import { AbortedError } from '../../core/index.js'
import { onAbort, raceAbort, throwIfAborted } from '../../support/abort.js'

describe('support: abort helpers', () => {
  it('throwIfAborted throws an AbortedError naming the call, with the reason as cause', () => {
    throwIfAborted(undefined, 'nothing')
    throwIfAborted(new AbortController().signal, 'not aborted')
    const reason = new Error('gave up')
    assert.throws(
      () => throwIfAborted(AbortSignal.abort(reason), 'the read'),
      (error: unknown) =>
        error instanceof AbortedError &&
        error.message === 'the read was aborted' &&
        error.cause === reason,
    )
  })

  it('onAbort fails once when the signal aborts, at once when it already has, never after stop', () => {
    const failures: string[] = []
    const controller = new AbortController()
    const stop = onAbort(controller.signal, 'a', (e) => failures.push(e.message))
    controller.abort()
    controller.abort()
    assert.deepEqual(failures, ['a was aborted'])
    stop()
    onAbort(AbortSignal.abort(), 'b', (e) => failures.push(e.message))
    assert.deepEqual(failures, ['a was aborted', 'b was aborted'])
    const later = new AbortController()
    onAbort(later.signal, 'c', (e) => failures.push(e.message))()
    later.abort()
    assert.equal(failures.length, 2, 'a stopped listener is not called')
  })

  it('raceAbort settles with the work, or with AbortedError as soon as the signal aborts', async () => {
    assert.equal(await raceAbort(Promise.resolve(1), undefined, 'x'), 1)
    assert.equal(await raceAbort(Promise.resolve(2), new AbortController().signal, 'x'), 2)
    const controller = new AbortController()
    const never = new Promise<never>(() => {})
    const raced = raceAbort(never, controller.signal, 'the wait')
    controller.abort()
    await assert.rejects(raced, { name: 'AbortedError', message: 'the wait was aborted' })
    await assert.rejects(raceAbort(Promise.resolve(3), AbortSignal.abort(), 'y'), AbortedError)
  })
})
