import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  encodeFrame,
  MAX_HELLO_ORIGINS,
  MAX_VECTOR_ORIGINS,
  PROTOCOL_VERSION,
  REPLICATION_PROTOCOL,
  type Frame,
} from '../../../transports/libp2p/frames.js'
import type { EventRecord } from '../../../core/event.js'
import {
  addressOf,
  createGeo,
  frameReader,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
  type RawPeer,
  type TestGeo,
  cleanUpAfterEach,
} from './in-process.js'

describe('fabric: allowlist, handshake and hostile frames', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()

  /** A geo that allowlists the raw peer whose key lives in the returned key file. */
  async function geoWithAllowlistedRawPeer(): Promise<{ geo: TestGeo; keyFile: string }> {
    const g = await createGeo('target')
    const intruder = await createGeo('raw')
    dirs.push(g.dataDir, intruder.dataDir)
    const geo = await startGeo(g, { peers: [{ geo: 'raw', peerId: intruder.peerId, addrs: [] }] })
    return { geo, keyFile: join(intruder.dataDir, 'peer-key') }
  }

  function hello(overrides: Partial<Extract<Frame, { t: 'hello' }>> = {}): Frame {
    return {
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      app: 'fabric-test',
      geo: 'raw',
      node: 'node-raw',
      vector: {},
      ...overrides,
    }
  }

  /** Events of log `log`; signed by `raw`'s key (under its origin for that log) when given. */
  function events(log: string, from: number, to: number, raw?: RawPeer): EventRecord[] {
    const list: EventRecord[] = []
    for (let seq = from; seq <= to; seq++)
      list.push({
        actorType: 'tally',
        actorId: 'remote',
        origin: raw ? raw.origin(log) : log,
        seq,
        hlc: { wall: Date.now(), logical: seq },
        type: 'added',
        payload: { by: 1 },
      })
    return raw ? raw.sign(list) : list
  }

  async function handshake(stream: Stream) {
    const reader = frameReader(stream)
    stream.send(encodeFrame(hello()))
    const reply = await reader.next()
    assert.equal(reply?.t, 'hello')
    return reader
  }

  it('refuses a peer whose key is not on the allowlist before any application frame', async () => {
    const g = await createGeo('guarded')
    dirs.push(g.dataDir)
    const guarded = await startGeo(g, { peers: [] })
    const stranger = await startRawPeer(join(g.dataDir, 'stranger-key'))
    await assert.rejects(stranger.open(addressOf(guarded)))
    await waitFor('peer.refused tap', () =>
      guarded.seen('peer.refused').some((e) => e.peer === stranger.peerId),
    )
    assert.equal(guarded.seen('replication.in').length, 0)
    assert.equal(guarded.seen('peer.connected').length, 0)
    assert.deepEqual(await guarded.store.versionVector(), {})
  })

  it('ingests replicated events once, however often they are delivered', async () => {
    const { geo, keyFile } = await geoWithAllowlistedRawPeer()
    const raw = await startRawPeer(keyFile)
    const stream = await raw.open(addressOf(geo))
    const reader = await handshake(stream)
    const batch = events('origin-x', 1, 5, raw)
    // Acks carry what advanced: the first names the origin, the repeats nothing new.
    for (let n = 1; n <= 3; n++) {
      stream.send(encodeFrame({ t: 'events', n, events: batch }))
      const ack = await reader.next()
      assert.equal(ack?.t, 'ack')
      assert.deepEqual(
        ack.t === 'ack' && ack.vector,
        n === 1 ? { [raw.origin('origin-x')]: 5 } : {},
      )
    }
    // A gap (seq 7 without 6) is not stored: no ack says it advanced past 5.
    stream.send(encodeFrame({ t: 'events', n: 4, events: events('origin-x', 7, 7, raw) }))
    const ack = await reader.next()
    assert.deepEqual(ack?.t === 'ack' && ack.vector, {})
    assert.deepEqual(await geo.store.versionVector(), { [raw.origin('origin-x')]: 5 })
    assert.deepEqual(await geo.runtime.actor(tally, 'remote').state(), { value: 5 })
    assert.equal((await geo.store.readOrigin(raw.origin('origin-x'), 1, 100)).length, 5)
  })

  for (const [name, bytes] of [
    [
      'garbage bytes',
      Uint8Array.from([0, 0, 0, 8, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]),
    ],
    ['an oversized frame header', Uint8Array.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])],
    [
      'a frame that fails validation',
      encodeFrame({
        t: 'events',
        n: 1,
        events: [{ ...events('origin-x', 1, 1)[0]!, seq: -3 }],
      }),
    ],
    ['an empty frame', Uint8Array.from([0, 0, 0, 0])],
  ] as const) {
    it(`rejects ${name} from an allowlisted peer, stores nothing and keeps serving`, async () => {
      const { geo, keyFile } = await geoWithAllowlistedRawPeer()
      const raw = await startRawPeer(keyFile)
      const stream = await raw.open(addressOf(geo))
      const reader = await handshake(stream)
      stream.send(bytes)
      await waitFor('frame.rejected tap', () => geo.seen('frame.rejected').length > 0)
      await waitFor('stream closed', () => reader.closed())
      assert.deepEqual(await geo.store.versionVector(), {})
      // The node keeps serving: local writes work and a new stream from the same peer is accepted.
      await geo.runtime.actor(tally, 'local').ask('add', { by: 2 })
      const again = await raw.open(addressOf(geo))
      const reader2 = await handshake(again)
      again.send(encodeFrame({ t: 'events', n: 1, events: events('origin-y', 1, 2, raw) }))
      const ack = await reader2.next()
      assert.equal(ack?.t, 'ack')
      assert.equal((await geo.store.versionVector())[raw.origin('origin-y')], 2)
    })
  }

  it('refuses a paged hello of more than MAX_HELLO_ORIGINS origins before it is whole, and keeps serving', async () => {
    const { geo, keyFile } = await geoWithAllowlistedRawPeer()
    const raw = await startRawPeer(keyFile)
    const stream = await raw.open(addressOf(geo))
    const reader = frameReader(stream)
    const page = (from: number) =>
      Object.fromEntries(
        Array.from({ length: MAX_VECTOR_ORIGINS }, (_, i) => [`o${from + i}.x`, 1]),
      )
    stream.send(encodeFrame(hello({ vector: page(0), more: true })))
    const pages = Math.ceil(MAX_HELLO_ORIGINS / MAX_VECTOR_ORIGINS) + 1
    for (let p = 1; p < pages && !reader.closed(); p++)
      stream.send(encodeFrame({ t: 'vector', vector: page(p * MAX_VECTOR_ORIGINS), more: true }))
    await waitFor('frame.rejected tap', () =>
      geo.seen('frame.rejected').some((e) => /more than .* origins/.test(e.reason)),
    )
    await waitFor('stream closed', () => reader.closed())
    // A honest hello on a new stream still works.
    const again = await raw.open(addressOf(geo))
    await raw.handshake(again)
  })

  it('rejects garbage sent before the hello', async () => {
    const { geo, keyFile } = await geoWithAllowlistedRawPeer()
    const raw = await startRawPeer(keyFile)
    const stream = await raw.open(addressOf(geo))
    const reader = frameReader(stream)
    stream.send(encodeFrame({ t: 'events', n: 1, events: events('origin-x', 1, 1, raw) }))
    await waitFor('frame.rejected tap', () => geo.seen('frame.rejected').length > 0)
    await waitFor('stream closed', () => reader.closed())
    assert.deepEqual(await geo.store.versionVector(), {})
  })

  for (const [what, overrides, expected] of [
    ['another app', { app: 'other-app' }, /app 'other-app'/],
    ['another protocol version', { protocol: PROTOCOL_VERSION + 1 }, /protocol version/],
  ] as const) {
    it(`refuses a handshake from ${what} with a reason, as a tap`, async () => {
      const { geo, keyFile } = await geoWithAllowlistedRawPeer()
      const raw = await startRawPeer(keyFile)
      const stream = await raw.open(addressOf(geo))
      const reader = frameReader(stream)
      stream.send(encodeFrame(hello(overrides)))
      const reply = await reader.next()
      assert.equal(reply?.t, 'refuse')
      assert.match(reply.t === 'refuse' ? reply.reason : '', expected)
      await waitFor('peer.refused tap', () =>
        geo.seen('peer.refused').some((e) => e.peer === raw.peerId && expected.test(e.reason)),
      )
      await waitFor('stream closed', () => reader.closed())
    })
  }

  it('sends again what the receiver did not store (a held-back gap is re-requested)', async () => {
    const { geo, keyFile } = await geoWithAllowlistedRawPeer()
    const raw = await startRawPeer(keyFile)
    const received: Array<Extract<Frame, { t: 'events' }>> = []
    let stream: Stream | undefined
    await raw.node.handle(
      REPLICATION_PROTOCOL,
      (s) => {
        stream = s
        const reader = frameReader(s)
        void (async () => {
          assert.equal((await reader.next())?.t, 'hello')
          s.send(encodeFrame(hello()))
          for (let frame = await reader.next(30_000); frame; frame = await reader.next(30_000))
            if (frame.t === 'events') received.push(frame)
        })()
      },
      { maxInboundStreams: 4 },
    )
    for (let i = 0; i < 3; i++) await geo.runtime.actor(tally, 'g').ask('add', { by: 1 })
    await raw.node.dial(multiaddr(addressOf(geo)))
    await waitFor('first events frame', () => received.length >= 1)
    const first = received[0]!
    assert.deepEqual(
      first.events.map((e) => e.seq),
      [1, 2, 3],
    )
    // Claim the frame was processed but nothing stored (as a receiver missing an earlier seq would).
    stream!.send(encodeFrame({ t: 'ack', n: first.n, vector: {} }))
    await waitFor('the same events sent again', () => received.length >= 2)
    assert.deepEqual(
      received[1]!.events.map((e) => [e.origin, e.seq]),
      first.events.map((e) => [e.origin, e.seq]),
    )
    stream!.send(encodeFrame({ t: 'ack', n: received[1]!.n, vector: { [geo.nodeId]: 3 } }))
    await waitFor('no lag', () => geo.fabric.status().peers[0]!.lagEvents === 0)
  })

  it('two fabrics of different apps refuse each other and replicate nothing', async () => {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const geoA = await startGeo(a, { peers: [{ peerId: b.peerId, addrs: [] }] }, { appName: 'one' })
    const geoB = await startGeo(
      b,
      { peers: [{ peerId: a.peerId, addrs: [addressOf(geoA)] }] },
      { appName: 'two' },
    )
    await geoA.runtime.actor(tally, 't').ask('add', { by: 1 })
    await waitFor('both sides refuse', () =>
      [geoA, geoB].every((g) => g.seen('peer.refused').some((e) => /app '/.test(e.reason))),
    )
    assert.deepEqual(await geoB.store.versionVector(), {})
    assert.equal(geoB.seen('peer.connected').length, 0)
  })
})
