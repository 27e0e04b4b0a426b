// The client's retry policy: what is retried and how long it waits, with the randomness injected.
import assert from 'node:assert/strict'
import {
  AnywhereClientError,
  ClientAbortedError,
  ClientTimeoutError,
  NetworkError,
  isRetryable,
} from '../../client/index.js'
import { backoffMs, delay, retryPolicy } from '../../client/retry.js'

const answered = (status: number) => new AnywhereClientError('x', { status, errorName: 'X' })

describe('client retry policy', () => {
  it('retries no answer and 502/503/504; never a 4xx, a 500 or an abort', () => {
    assert.ok(isRetryable(new NetworkError('down')))
    assert.ok(isRetryable(new ClientTimeoutError('slow')))
    for (const status of [502, 503, 504]) assert.ok(isRetryable(answered(status)), `${status}`)
    for (const status of [400, 401, 404, 408, 413, 422, 500])
      assert.ok(!isRetryable(answered(status)), `${status}`)
    assert.ok(!isRetryable(new ClientAbortedError('stop')))
  })

  it('backs off exponentially, half of it random, capped', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1_000 })
    assert.equal(
      backoffMs(policy, 0, () => 0),
      50,
    )
    assert.equal(
      backoffMs(policy, 0, () => 1),
      100,
    )
    assert.equal(
      backoffMs(policy, 2, () => 1),
      400,
    )
    assert.equal(
      backoffMs(policy, 10, () => 1),
      1_000,
    )
    assert.equal(
      backoffMs(policy, 10, () => 0),
      500,
    )
  })

  it('refuses a negative or fractional setting', () => {
    assert.throws(() => retryPolicy({ retries: -1 }), TypeError)
    assert.throws(() => retryPolicy({ baseDelayMs: 1.5 }), TypeError)
  })

  it('a wait ends at once when the signal fires', async () => {
    const controller = new AbortController()
    const waiting = delay(60_000, controller.signal)
    controller.abort()
    await assert.rejects(waiting, ClientAbortedError)
  })
})
