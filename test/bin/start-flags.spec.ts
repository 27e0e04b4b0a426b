// `anywhere-node start` flags turn into the config they stand for: --redis-cluster names a
// Redis Cluster as host:port (or URLs), comma-separated, and implies --store redis.
import assert from 'node:assert/strict'
import { flagsToConfig, parseClusterFlag } from '../../bin/start-flags.js'
import { mergeConfig, parseNodeConfig } from '../../node/index.js'

describe('start flags: the Redis store', () => {
  it('--redis-cluster lists the cluster (host:port or URLs) and implies --store redis', () => {
    assert.deepEqual(parseClusterFlag('10.0.0.1:7000, rediss://u:p@h:7001,,'), [
      'redis://10.0.0.1:7000',
      'rediss://u:p@h:7001',
    ])
    const overlay = flagsToConfig(
      { redisCluster: '127.0.0.1:7000,127.0.0.1:7001', redisPrefix: 'eu:' },
      {},
    )
    const config = parseNodeConfig(mergeConfig({}, overlay))
    assert.equal(config.store.kind, 'redis')
    assert.deepEqual(config.store.kind === 'redis' && config.store, {
      kind: 'redis',
      cluster: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'],
      prefix: 'eu:',
      commandTimeoutMs: 1_500,
      connectTimeoutMs: 1_000,
      reconnectMaxDelayMs: 1_000,
      maxBatchEvents: 64,
      ownerLeaseMs: 10_000,
    })
  })

  it('keeps the file store knobs under a flag, and refuses a flag that adds a second target', () => {
    const file = { store: { kind: 'redis', cluster: ['redis://a:1'], maxBatchEvents: 8 } }
    const config = parseNodeConfig(mergeConfig(file, flagsToConfig({ redisPrefix: 'p:' }, file)))
    assert.equal(config.store.kind === 'redis' && config.store.maxBatchEvents, 8)
    assert.deepEqual(config.store.kind === 'redis' && config.store.cluster, ['redis://a:1'])
    assert.throws(
      () => parseNodeConfig(mergeConfig(file, flagsToConfig({ redisUrl: 'redis://b:1' }, file))),
      /give exactly one of url .* not both/,
    )
  })
})
