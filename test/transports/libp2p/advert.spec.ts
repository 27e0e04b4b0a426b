import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { TapEvent } from '../../../core/index.js'
import { createNode, type AnywhereNode } from '../../../node/index.js'
import { encodeFrame, PROTOCOL_VERSION, type Frame } from '../../../transports/libp2p/frames.js'
import type { Libp2pFabricStatus } from '../../../transports/libp2p/index.js'
import { cleanUpAfterEach, createGeo, FAST, startRawPeer, waitFor } from './in-process.js'

describe('fabric: geos advertise their HTTP address, readiness and load', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()
  const nodes: AnywhereNode[] = []
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
  })

  async function startNode(
    identity: { geo: string; dataDir: string },
    peers: Array<{ geo: string; peerId: string; addrs: string[] }>,
  ): Promise<AnywhereNode> {
    const node = await createNode({
      app: 'advert-test',
      geo: identity.geo,
      dataDir: identity.dataDir,
      store: { kind: 'memory' },
      http: { port: 0 },
      log: { level: 'silent' },
      fabric: { listen: ['/ip4/127.0.0.1/tcp/0'], peers, ...FAST, heartbeatMs: 100 },
    })
    nodes.push(node)
    await node.start()
    return node
  }

  function fabricOf(node: AnywhereNode): Libp2pFabricStatus {
    return node.fabric!.status() as Libp2pFabricStatus
  }

  it('GET /v1/fabric shows each peer geo’s URLs, readiness and load', async () => {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const nodeA = await startNode(a, [{ geo: 'b', peerId: b.peerId, addrs: [] }])
    const nodeB = await startNode(b, [
      { geo: 'a', peerId: a.peerId, addrs: nodeA.fabric!.listenAddresses() },
    ])
    for (const [node, other] of [
      [nodeA, nodeB],
      [nodeB, nodeA],
    ] as const) {
      await waitFor(
        `${node.config.geo} to hear ${other.config.geo}'s advert and measure its RTT`,
        () =>
          // The round trip is measured by the first ping or ack: wait for it too.
          fabricOf(node).peers.some((p) => p.advert !== undefined && p.rttMs !== undefined),
      )
      const response = await fetch(`${node.gateway!.url}/v1/fabric`)
      const status = (await response.json()) as Libp2pFabricStatus
      const peer = status.peers[0]!
      assert.deepEqual(peer.advert?.urls, [other.gateway!.url], JSON.stringify(peer))
      assert.equal(peer.advert?.ready, true)
      assert.equal(typeof peer.advert?.load, 'number')
      assert.equal(typeof peer.rttMs, 'number')
    }
  })

  it('a hostile peer’s status frames are validated: bad ones close its stream, the node keeps serving', async () => {
    const target = await createGeo('target')
    const intruder = await createGeo('raw')
    dirs.push(target.dataDir, intruder.dataDir)
    const node = await startNode(target, [{ geo: 'raw', peerId: intruder.peerId, addrs: [] }])
    const rejected: TapEvent[] = []
    node.taps.of('frame.rejected').subscribe((e) => rejected.push(e))
    const raw = await startRawPeer(join(intruder.dataDir, 'peer-key'))
    const address = `${node.fabric!.listenAddresses()[0]!}`
    const hello: Frame = {
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      app: 'advert-test',
      geo: 'raw',
      node: 'node-raw',
      vector: {},
    }
    const valid: Frame = {
      t: 'status',
      urls: ['http://127.0.0.1:1'],
      ready: false,
      load: 2.5,
      reason: 'overloaded',
    }
    // A valid advert is shown as sent.
    const first = await raw.open(address)
    first.send(encodeFrame(hello))
    first.send(encodeFrame(valid))
    await waitFor('the raw peer’s advert', () =>
      fabricOf(node).peers.some((p) => p.advert?.load === 2.5),
    )
    const shown = fabricOf(node).peers.find((p) => p.geo === 'raw')!.advert!
    assert.deepEqual(
      { urls: shown.urls, ready: shown.ready, reason: shown.reason, load: shown.load },
      { urls: ['http://127.0.0.1:1'], ready: false, reason: 'overloaded', load: 2.5 },
    )

    const hostile: Array<[string, Record<string, unknown>]> = [
      ['a URL with credentials', { ...valid, urls: ['http://user:secret@evil.example/'] }],
      ['a non-http URL', { ...valid, urls: ['file:///etc/passwd'] }],
      ['too many URLs', { ...valid, urls: Array.from({ length: 5 }, (_, i) => `http://h${i}`) }],
      ['a URL too long', { ...valid, urls: [`http://${'x'.repeat(300)}`] }],
      ['a load out of range', { ...valid, load: 1e12 }],
      ['a negative load', { ...valid, load: -1 }],
      ['a reason that is not text', { ...valid, reason: { nested: true } }],
    ]
    for (const [what, frame] of hostile) {
      const before = rejected.length
      const stream = await raw.open(address)
      stream.send(encodeFrame(hello))
      stream.send(encodeFrame(frame as Frame))
      await waitFor(`${what} to be rejected`, () => rejected.length > before)
    }
    // The advert shown is still the last valid one, and the node still serves.
    assert.equal(fabricOf(node).peers.find((p) => p.geo === 'raw')!.advert!.load, 2.5)
    assert.equal((await fetch(`${node.gateway!.url}/readyz`)).status, 200)
  })
})
