import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { encodeFrame, PROTOCOL_VERSION } from '../../../transports/libp2p/frames.js'
import {
  addressOf,
  createGeo,
  frameReader,
  note,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
  type TestGeo,
  cleanUpAfterEach,
} from './in-process.js'

describe('fabric: offline peers, relays and blast radius', function () {
  this.timeout(60_000)
  const dirs = cleanUpAfterEach()

  async function sameVectors(geos: TestGeo[]): Promise<boolean> {
    const vectors = await Promise.all(geos.map((g) => g.store.versionVector()))
    const key = (v: Record<string, number>) => JSON.stringify(Object.entries(v).sort())
    return vectors.every((v) => key(v) === key(vectors[0]!))
  }

  it('catches up a geo that was offline, both ways, and reports the healed partition', async () => {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const geoA = await startGeo(a, { peers: [{ peerId: b.peerId, addrs: [] }] })
    const storeB = new MemoryEventStore()
    const peersOfB = [{ geo: 'a', peerId: a.peerId, addrs: [addressOf(geoA)] }]
    let geoB = await startGeo(b, { peers: peersOfB }, { store: storeB })
    await geoA.runtime.actor(tally, 'x').ask('add', { by: 1 })
    await waitFor('first event replicated', () => sameVectors([geoA, geoB]))

    await geoB.stop()
    await waitFor('a sees b lost', () => geoA.seen('peer.lost').length > 0)
    for (let i = 0; i < 600; i++) await geoA.runtime.actor(tally, 'x').ask('add', { by: 1 })
    await waitFor('a reports the lag', () => geoA.fabric.status().peers[0]!.lagEvents === 600)
    assert.equal(geoA.fabric.status().peers[0]!.connected, false)
    assert.ok(geoA.fabric.status().peers[0]!.lagMs >= 0)

    // b comes back with its store and its own offline writes.
    geoB = await startGeo(b, { peers: peersOfB }, { store: storeB })
    for (let i = 0; i < 50; i++) await geoB.runtime.actor(tally, 'x').ask('add', { by: 100 })
    await waitFor('vectors equal', () => sameVectors([geoA, geoB]), 20_000)
    for (const g of [geoA, geoB])
      assert.deepEqual(await g.runtime.actor(tally, 'x').state(), { value: 601 + 5_000 })
    await waitFor('partition.healed on a', () => geoA.seen('partition.healed').length > 0)
    const healed = geoA.seen('partition.healed')[0]!
    assert.equal(healed.peer, b.peerId)
    assert.equal(healed.geo, 'b')
    assert.ok(healed.durationMs > 0)
    assert.ok(healed.eventsOut >= 600, `eventsOut ${healed.eventsOut}`)
    assert.ok(healed.convergeMs >= 0)
  })

  it('relays events through a geo in the middle, so a chain converges', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    // a -- b -- c: a and c do not connect.
    const geoB = await startGeo(b!, {
      peers: [
        { peerId: a!.peerId, addrs: [] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    // a and c allowlist each other without an address: they never connect, but each takes
    // the other's events, signed by the other's key, through b.
    const geoA = await startGeo(a!, {
      peers: [
        { peerId: b!.peerId, addrs: [addressOf(geoB)] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    const geoC = await startGeo(c!, {
      peers: [
        { peerId: b!.peerId, addrs: [addressOf(geoB)] },
        { peerId: a!.peerId, addrs: [] },
      ],
    })
    for (let i = 0; i < 30; i++) {
      await geoA.runtime.actor(note, 'doc').ask('set', { value: `a${i}` })
      await geoC.runtime.actor(note, 'doc').ask('set', { value: `c${i}` })
    }
    await waitFor('all three hold everything', () => sameVectors([geoA, geoB, geoC]), 20_000)
    const states = await Promise.all(
      [geoA, geoB, geoC].map((g) => g.runtime.actor(note, 'doc').state()),
    )
    assert.equal(states[0]!.history.length, 60)
    assert.deepEqual(states[1], states[0])
    assert.deepEqual(states[2], states[0])
  })

  it('keeps accepting writes while a peer stops reading, with bounded buffers', async () => {
    const g = await createGeo('busy')
    const stuck = await createGeo('stuck')
    dirs.push(g.dataDir, stuck.dataDir)
    const geo = await startGeo(g, {
      peers: [{ peerId: stuck.peerId, addrs: [] }],
      // Small window and live queue, so the test reaches both limits quickly.
      maxUnackedBytes: 64 * 1024,
      liveQueueEvents: 100,
    })
    // The stuck peer serves the protocol, answers the hello, then never reads or acks again.
    const raw = await startRawPeer(join(stuck.dataDir, 'peer-key'))
    let inbound: Stream | undefined
    await raw.node.handle(
      '/anywhere/replicate/1',
      (stream) => {
        inbound = stream
        const reader = frameReader(stream)
        void reader.next().then(() => {
          stream.send(
            encodeFrame({
              t: 'hello',
              protocol: PROTOCOL_VERSION,
              app: 'fabric-test',
              geo: 'stuck',
              node: 'node-stuck',
              vector: {},
            }),
          )
          stream.pause()
        })
      },
      { maxInboundStreams: 16 },
    )
    await raw.node.dial(multiaddr(addressOf(geo)))
    await waitFor('sending session open', () => inbound !== undefined, 10_000)
    // And its hellos taken: the writes below never yield to I/O (the memory store answers in
    // microtasks), so a hello still unread now would be read only after them.
    await waitFor(
      'the stuck peer connected',
      () => geo.fabric.status().peers[0]?.connected === true,
      10_000,
    )
    const heapBefore = process.memoryUsage().heapUsed
    const latencies: number[] = []
    for (let i = 0; i < 3_000; i++) {
      const started = performance.now()
      await geo.runtime.actor(note, `k${i % 50}`).ask('set', { value: 'x'.repeat(200) })
      latencies.push(performance.now() - started)
    }
    latencies.sort((x, y) => x - y)
    const p50 = latencies[Math.floor(latencies.length / 2)]!
    assert.ok(p50 < 20, `median write latency ${p50} ms while a peer is stuck`)
    const status = geo.fabric.status().peers[0]!
    assert.equal(status.connected, true)
    assert.ok(status.lagEvents > 2_000, `lag ${status.lagEvents}`)
    const sent = geo.seen('replication.out').reduce((sum, e) => sum + e.events, 0)
    assert.ok(sent < 1_000, `only a window's worth is sent to a peer that does not ack (${sent})`)
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 200 * 1024 * 1024)
  })

  it('joins a private network only with the same pre-shared key', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    const key = (hex: string) => `/key/swarm/psk/1.0.0/\n/base16/\n${hex.repeat(64 / hex.length)}\n`
    const good = join(a!.dataDir, 'swarm.key')
    const bad = join(c!.dataDir, 'swarm.key')
    await writeFile(good, key('ab'))
    await writeFile(join(b!.dataDir, 'swarm.key'), key('ab'))
    await writeFile(bad, key('cd'))
    const geoA = await startGeo(a!, {
      psk: good,
      peers: [
        { peerId: b!.peerId, addrs: [] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    const geoB = await startGeo(b!, {
      psk: join(b!.dataDir, 'swarm.key'),
      peers: [{ peerId: a!.peerId, addrs: [addressOf(geoA)] }],
    })
    const geoC = await startGeo(c!, {
      psk: bad,
      peers: [{ peerId: a!.peerId, addrs: [addressOf(geoA)] }],
    })
    await geoA.runtime.actor(tally, 'p').ask('add', { by: 7 })
    await waitFor('b replicated', async () => (await geoB.store.versionVector())[geoA.nodeId] === 1)
    // A negative check needs a bounded wait: c redials every 50-500 ms, so it had several tries.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    assert.deepEqual(await geoC.store.versionVector(), {})
    assert.equal(geoC.seen('peer.connected').length, 0)
  })
})
