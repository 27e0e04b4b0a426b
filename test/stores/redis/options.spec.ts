// The Redis store's init is parsed once, by its factory: defaults filled in, and any bad
// field refused with a ConfigError that names it, before a connection is attempted.
import assert from 'node:assert/strict'
import { ConfigError } from '../../../core/index.js'
import { clusterTarget } from '../../../stores/redis/options.js'
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
      ownerLeaseMs: 5_000,
    }
    assert.deepEqual(redisStoreInitSchema.parse(knobs), knobs)
  })

  it("takes a cluster instead of a url, and reads each node's host, port and login", () => {
    const init: RedisStoreInit = {
      cluster: ['redis://u:p%40ss@10.0.0.1:7000', 'redis://u:p%40ss@[::1]:7001'],
      prefix: 'eu-west:',
    }
    assert.deepEqual(parseRedisStoreInit(init), { ...REDIS_STORE_DEFAULTS, ...init })
    assert.deepEqual(clusterTarget(init.cluster![1]!), {
      host: '::1',
      port: 7001,
      tls: false,
      username: 'u',
      password: 'p@ss',
      credentials: JSON.stringify(['redis:', 'u', 'p@ss']),
    })
    // A brace is fine in a one-Redis prefix: it is not a hash tag there.
    assert.equal(parseRedisStoreInit({ url: 'redis://x', prefix: 'a{b}:' }).prefix, 'a{b}:')
  })

  it('refuses a bad field with a ConfigError naming it, in the factory', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ url: 'http://x' }, /url/],
      [{ url: 'redis://x', prefix: '' }, /prefix/],
      [{ url: 'redis://x', prefix: 'p'.repeat(129) }, /prefix/],
      [{ url: 'redis://x', maxBatchEvents: 0 }, /maxBatchEvents/],
      [{ url: 'redis://x', commandTimeoutMs: 1.5 }, /commandTimeoutMs/],
      [{ url: 'redis://x', ownerLeaseMs: 299 }, /ownerLeaseMs/],
      [{ url: 'redis://x', unknownKnob: 1 }, /unknownKnob/],
      [{}, /url: give exactly one of url \(one Redis\) and cluster .* not neither/],
      [{ url: 'redis://x', cluster: ['redis://y:1'] }, /cluster: give exactly one .* not both/],
      [{ cluster: [] }, /cluster/],
      [{ cluster: ['http://y:1'] }, /cluster\.0: must be a redis/],
      [{ cluster: ['redis://y'] }, /cluster: every entry must be .*host:port/],
      [{ cluster: ['redis://y:1/2'] }, /cluster: every entry must be .* no db/],
      [
        { cluster: ['redis://y:1', 'rediss://z:1'] },
        /cluster: every entry must use the same scheme/,
      ],
      [{ cluster: ['redis://:a@y:1', 'redis://:b@z:1'] }, /same scheme, user and password/],
      [{ cluster: ['redis://y:1'], prefix: 'geo{1}:' }, /prefix: must not contain \{ or \}/],
      [{ cluster: Array(65).fill('redis://y:1') }, /cluster/],
    ]
    for (const [init, field] of cases)
      assert.throws(
        () => redisStore(init as RedisStoreInit),
        (error: unknown) => error instanceof ConfigError && field.test(error.message),
        JSON.stringify(init),
      )
  })
})
