import assert from 'node:assert/strict'
import { AskTimeoutError, HandlerError, StoreUnavailableError } from '../../../core/index.js'
import { IdempotencyCache } from '../../../transports/http/idempotency-cache.js'

describe('gateway: idempotency cache', () => {
  it('runs a key once and answers a retry with the first result', async () => {
    const cache = new IdempotencyCache()
    let runs = 0
    const first = cache.run('k', 'body', async () => ++runs)
    const second = cache.run('k', 'body', async () => ++runs)
    assert.equal(first.replayed, false)
    assert.equal(second.replayed, true)
    assert.equal(await first.result, 1)
    assert.equal(await second.result, 1)
    assert.equal(runs, 1)
  })

  it('makes a retry that arrives while the first is running wait for it', async () => {
    const cache = new IdempotencyCache()
    let release!: (value: string) => void
    const first = cache.run(
      'k',
      'body',
      () => new Promise<string>((resolve) => (release = resolve)),
    )
    const retry = cache.run('k', 'body', () => Promise.resolve('second run'))
    assert.equal(retry.replayed, true)
    release('first run')
    assert.equal(await retry.result, 'first run')
    assert.equal(await first.result, 'first run')
  })

  it('frees the key of a command that failed without effect, so a retry runs for real', async () => {
    const cache = new IdempotencyCache()
    const failed = cache.run('k', 'body', () => Promise.reject(new HandlerError('boom')))
    await assert.rejects(failed.result, HandlerError)
    assert.equal(cache.size, 0)
    const retry = cache.run('k', 'body', async () => 'ran')
    assert.equal(retry.replayed, false)
    assert.equal(await retry.result, 'ran')
  })

  it('keeps the key of a command whose ask timed out (it may still run): a retry gets the timeout', async () => {
    const cache = new IdempotencyCache()
    const timedOut = cache.run('k', 'body', () =>
      Promise.reject(new AskTimeoutError('no reply from counter/a within 10 ms')),
    )
    await assert.rejects(timedOut.result, AskTimeoutError)
    let ranAgain = false
    const retry = cache.run('k', 'body', async () => (ranAgain = true))
    assert.equal(retry.replayed, true)
    await assert.rejects(retry.result, AskTimeoutError)
    assert.equal(ranAgain, false)
  })

  it('keeps the key of a command the store did not confirm (its append may have landed)', async () => {
    const cache = new IdempotencyCache()
    const unknown = cache.run('k', 'body', () =>
      Promise.reject(new StoreUnavailableError('redis did not answer')),
    )
    await assert.rejects(unknown.result, StoreUnavailableError)
    let ranAgain = false
    const retry = cache.run('k', 'body', async () => (ranAgain = true))
    assert.equal(retry.replayed, true)
    await assert.rejects(retry.result, StoreUnavailableError)
    assert.equal(ranAgain, false)
  })

  it('is bounded: past its capacity the least recently used keys are forgotten', async () => {
    const cache = new IdempotencyCache(3)
    for (const key of ['a', 'b', 'c']) await cache.run(key, 'body', async () => key).result
    await cache.run('a', 'body', async () => 'again').result // touches a: b is now the oldest
    await cache.run('d', 'body', async () => 'd').result
    assert.equal(cache.size, 3)
    assert.equal(cache.run('a', 'body', async () => 'new').replayed, true)
    assert.equal(
      cache.run('b', 'body', async () => 'new').replayed,
      false,
      'b was the least recently used',
    )
  })
})
