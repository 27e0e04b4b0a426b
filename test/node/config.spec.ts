import assert from 'node:assert/strict'
import { ConfigError, RUNTIME_DEFAULTS } from '../../core/index.js'
import { parseNodeConfig } from '../../node/index.js'
import { FILE_STORE_DEFAULTS, MIN_SEGMENT_BYTES } from '../../stores/file/index.js'
import { LIBP2P_FABRIC_DEFAULTS } from '../../transports/libp2p/index.js'
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../transports/http/index.js'

const PEER_ID = '12D3KooWRBhwfeP2Y9CDkFRBAZ1pmxUadH36TKuk3KtKm5XXP8mA'

describe('node config: composed from each backend schema', () => {
  it('fills every section from the backends defaults', () => {
    const config = parseNodeConfig({})
    assert.equal(config.store.kind, 'file')
    if (config.store.kind !== 'file') return
    assert.equal(config.store.segmentBytes, FILE_STORE_DEFAULTS.segmentBytes)
    assert.equal(config.http.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS)
    assert.equal(config.runtime.askTimeoutMs, RUNTIME_DEFAULTS.askTimeoutMs)
  })

  it('reaches every tuning knob of the store and the fabric', () => {
    const config = parseNodeConfig({
      store: { kind: 'file', cacheEvents: 7, segmentBytes: MIN_SEGMENT_BYTES },
      fabric: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: [{ peerId: PEER_ID }],
        heartbeatMs: 250,
      },
    })
    assert.equal(config.store.kind === 'file' && config.store.cacheEvents, 7)
    assert.equal(config.fabric?.heartbeatMs, 250)
    assert.equal(config.fabric?.silenceTimeoutMs, LIBP2P_FABRIC_DEFAULTS.silenceTimeoutMs)
    assert.deepEqual(config.fabric?.peers[0]?.addrs, [], 'a peer may omit addrs: it dials us')
  })

  it('takes a Redis Cluster as store.cluster', () => {
    const config = parseNodeConfig({
      store: { kind: 'redis', cluster: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] },
    })
    assert.deepEqual(config.store.kind === 'redis' && config.store.cluster, [
      'redis://10.0.0.1:7000',
      'redis://10.0.0.2:7000',
    ])
  })

  it('refuses what a backend refuses, naming the field', () => {
    const refused = (input: unknown, field: RegExp) =>
      assert.throws(
        () => parseNodeConfig(input),
        (error: unknown) => error instanceof ConfigError && field.test(error.message),
      )
    refused({ store: { kind: 'file', segmentBytes: MIN_SEGMENT_BYTES - 1 } }, /store\.segmentBytes/)
    refused({ store: { kind: 'redis', url: 'http://x' } }, /store\.url/)
    refused({ store: { kind: 'redis' } }, /store\.url: give exactly one of url .* not neither/)
    refused(
      { store: { kind: 'redis', url: 'redis://a:1', cluster: ['redis://b:1'] } },
      /store\.cluster: give exactly one of url .* not both/,
    )
    refused({ store: { kind: 'redis', cluster: ['redis://b'] } }, /store\.cluster: every entry/)
    refused({ fabric: { listen: ['tcp/1'], peers: [] } }, /fabric\.listen\.0/)
    refused({ fabric: { listen: [], peers: [], random: 1 } }, /fabric/)
    refused(
      { fabric: { listen: [], peers: [], maxLiveOriginsPerKey: 'many' } },
      /fabric\.maxLiveOriginsPerKey/,
    )
    refused(
      { fabric: { listen: [], peers: [], maxLiveOriginsPerKey: 100_000 } },
      /fabric\.maxLiveOriginsPerKey/,
    )
    refused({ runtime: { snapshotEvery: 0 } }, /runtime\.snapshotEvery/)
    refused({ http: { requestTimeoutMs: 1 } }, /http\.requestTimeoutMs/)
  })
})

describe('node config: members (a geo of several nodes)', () => {
  const redis = { kind: 'redis', url: 'redis://127.0.0.1:6379' } as const

  it('is off by default, with the documented timings when on', () => {
    assert.equal(parseNodeConfig({}).members.enabled, false)
    const { members } = parseNodeConfig({ store: redis, members: { enabled: true } })
    assert.deepEqual(
      { ...members },
      { enabled: true, timeoutMs: 3_000, heartbeatMs: 1_000, host: '127.0.0.1', port: 0 },
    )
  })

  it('refuses a heartbeat longer than half the timeout and a store other than Redis; takes a fabric and a Redis Cluster', () => {
    const refused = (input: unknown, field: RegExp) =>
      assert.throws(
        () => parseNodeConfig(input),
        (error: unknown) => error instanceof ConfigError && field.test(error.message),
      )
    refused({ store: redis, members: { enabled: true, heartbeatMs: 2_000 } }, /heartbeatMs/)
    refused({ members: { enabled: true } }, /members\.enabled: .*Redis store/)
    const both = parseNodeConfig({
      store: redis,
      members: { enabled: true },
      fabric: { listen: ['/ip4/127.0.0.1/tcp/0'], peers: [{ peerId: PEER_ID }] },
    })
    assert.equal(both.members.enabled && both.fabric?.peers.length, 1)
    const onCluster = parseNodeConfig({
      store: { kind: 'redis', cluster: ['redis://10.0.0.1:7000'] },
      members: { enabled: true },
    })
    assert.equal(onCluster.members.enabled, true, 'a geo of several nodes on a Redis Cluster')
    refused({ store: redis, members: { enabled: true, url: 'ftp://x' } }, /members\.url/)
    refused({ store: redis, members: { enabled: true, url: 'http://x:1' } }, /members\.url/)
    const { members } = parseNodeConfig({
      store: redis,
      members: { enabled: true, url: 'tcp://node-1.internal:7500' },
    })
    assert.equal(members.url, 'tcp://node-1.internal:7500')
  })
})
