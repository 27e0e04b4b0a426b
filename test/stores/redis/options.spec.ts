// The Redis store's init is parsed once, by its factory: defaults filled in, and any bad
// field refused with a ConfigError that names it, before a connection is attempted.
import assert from 'node:assert/strict'
import { ConfigError } from '../../../core/index.js'
import {
  parseRedisStoreInit,
  REDIS_STORE_DEFAULTS,
  redisStore,
  redisStoreInitSchema,
  type RedisStoreInit,
} from '../../../stores/redis/index.js'

describe('redis store: init', () => {
  it('fills in every default', () => {
    assert.deepEqual(parseRedisStoreInit({ url: 'redis://127.0.0.1:1' }), {
      url: 'redis://127.0.0.1:1',
      ...REDIS_STORE_DEFAULTS,
    })
    const knobs: RedisStoreInit = {
      url: 'rediss://h:2/1',
      prefix: 'p:',
      commandTimeoutMs: 1,
      connectTimeoutMs: 2,
      reconnectMaxDelayMs: 3,
      maxBatchEvents: 4,
    }
    assert.deepEqual(redisStoreInitSchema.parse(knobs), knobs)
  })

  it('refuses a bad field with a ConfigError naming it, in the factory', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ url: 'http://x' }, /url/],
      [{ url: 'redis://x', prefix: '' }, /prefix/],
      [{ url: 'redis://x', prefix: 'p'.repeat(129) }, /prefix/],
      [{ url: 'redis://x', maxBatchEvents: 0 }, /maxBatchEvents/],
      [{ url: 'redis://x', commandTimeoutMs: 1.5 }, /commandTimeoutMs/],
      [{ url: 'redis://x', unknownKnob: 1 }, /unknownKnob/],
    ]
    for (const [init, field] of cases)
      assert.throws(
        () => redisStore(init as RedisStoreInit),
        (error: unknown) => error instanceof ConfigError && field.test(error.message),
        JSON.stringify(init),
      )
  })
})
