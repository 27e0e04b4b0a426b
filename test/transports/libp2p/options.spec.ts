import assert from 'node:assert/strict'
import { ConfigError } from '../../../core/index.js'
import {
  LIBP2P_FABRIC_DEFAULTS,
  libp2pFabric,
  libp2pFabricInitSchema,
  parseLibp2pFabricInit,
} from '../../../transports/libp2p/index.js'
import { MAX_NOTICE_LIVE } from '../../../transports/libp2p/retirement-notice.js'

const PEER_ID = '12D3KooWRBhwfeP2Y9CDkFRBAZ1pmxUadH36TKuk3KtKm5XXP8mA'

describe('libp2p fabric options', () => {
  it('applies the default of every tuning field the init leaves out', () => {
    const options = parseLibp2pFabricInit({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] })
    for (const [field, value] of Object.entries(LIBP2P_FABRIC_DEFAULTS))
      assert.equal(options[field as keyof typeof options], value, field)
  })

  it('keeps the tuning fields the init sets', () => {
    const options = parseLibp2pFabricInit({
      listen: [],
      peers: [],
      heartbeatMs: 50,
      eventsPerFrame: 1024,
    })
    assert.equal(options.heartbeatMs, 50)
    assert.equal(options.eventsPerFrame, 1024)
    assert.equal(options.silenceTimeoutMs, LIBP2P_FABRIC_DEFAULTS.silenceTimeoutMs)
  })

  it('lets a peer omit its addrs (it dials us): they default to none', () => {
    const options = parseLibp2pFabricInit({ listen: [], peers: [{ peerId: PEER_ID }] })
    assert.deepEqual(options.peers, [{ peerId: PEER_ID, addrs: [] }])
  })

  it('throws ConfigError naming the bad field, from the factory itself', () => {
    assert.throws(
      () => libp2pFabric({ listen: [], peers: [], eventsPerFrame: 1025 }),
      (error: unknown) => error instanceof ConfigError && /eventsPerFrame/.test(error.message),
    )
    assert.throws(
      () => libp2pFabric({ listen: [], peers: [{ peerId: PEER_ID, addrs: [''] }] }),
      (error: unknown) => error instanceof ConfigError && /peers\.0\.addrs\.0/.test(error.message),
    )
    assert.throws(
      () => parseLibp2pFabricInit({ listen: [], peers: [], heartbeatMs: 0 }),
      (error: unknown) => error instanceof ConfigError && /heartbeatMs/.test(error.message),
    )
  })

  it('bounds maxLiveOriginsPerKey by what a retirement notice names (a typed error past it)', () => {
    assert.equal(
      parseLibp2pFabricInit({ listen: [], peers: [] }).maxLiveOriginsPerKey,
      LIBP2P_FABRIC_DEFAULTS.maxLiveOriginsPerKey,
    )
    assert.equal(
      parseLibp2pFabricInit({ listen: [], peers: [], maxLiveOriginsPerKey: 200 })
        .maxLiveOriginsPerKey,
      200,
    )
    for (const bad of [0, -1, 1.5, MAX_NOTICE_LIVE + 1, '64'])
      assert.throws(
        () =>
          parseLibp2pFabricInit({
            listen: [],
            peers: [],
            maxLiveOriginsPerKey: bad as number,
          }),
        (error: unknown) =>
          error instanceof ConfigError && /maxLiveOriginsPerKey/.test(error.message),
        String(bad),
      )
  })

  it('is a zod schema others can compose', () => {
    const withExtra = libp2pFabricInitSchema.extend({ note: libp2pFabricInitSchema.shape.psk })
    const parsed = withExtra.parse({ listen: [], peers: [], note: 'x' })
    assert.equal(parsed.note, 'x')
    assert.equal(parsed.refreshMs, LIBP2P_FABRIC_DEFAULTS.refreshMs)
  })
})
