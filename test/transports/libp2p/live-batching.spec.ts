import assert from 'node:assert/strict'
import type { EventRecord } from '../../../core/event.js'
import { encodeFrame, type Frame } from '../../../transports/libp2p/frames.js'
import {
  addressOf,
  cleanUpAfterEach,
  createGeo,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
} from './in-process.js'

function event(origin: string, seq: number): EventRecord {
  return {
    actorType: 'tally',
    actorId: `t${seq % 7}`,
    origin,
    seq,
    hlc: { wall: Date.now(), logical: 0 },
    type: 'added',
    payload: { by: 1 },
  }
}

describe('fabric: live push batched under load (issue 14)', function () {
  this.timeout(60_000)
  const dirs = cleanUpAfterEach()

  it('acks cumulatively: at most one ack per ackIntervalMs however many frames arrive', async () => {
    const [v, r] = await Promise.all(['victim', 'raw'].map((g) => createGeo(g)))
    dirs.push(v!.dataDir, r!.dataDir)
    const ackIntervalMs = 50
    const geo = await startGeo(v!, { peers: [{ peerId: r!.peerId, addrs: [] }], ackIntervalMs })
    const raw = await startRawPeer(`${r!.dataDir}/peer-key`)
    const stream = await raw.open(addressOf(geo))
    const reader = await raw.handshake(stream)
    const origin = raw.origin('log')
    const frames = 300
    const started = Date.now()
    // One event per frame, as an origin without batching would send them.
    for (let n = 1; n <= frames; n++)
      stream.send(encodeFrame({ t: 'events', n, events: raw.sign([event(origin, n)]) }))
    const acks: Array<Extract<Frame, { t: 'ack' }>> = []
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && acks.at(-1)?.n !== frames) {
      const frame = await reader.next(Math.max(1, deadline - Date.now()))
      if (!frame) break
      if (frame.t === 'ack') acks.push(frame)
    }
    const elapsed = Date.now() - started
    assert.equal(acks.at(-1)?.n, frames, `acks seen: ${JSON.stringify(acks.map((a) => a.n))}`)
    assert.equal(
      Math.max(...acks.map((a) => a.vector[origin] ?? 0)),
      frames,
      'the acks say every event is held',
    )
    assert.ok(
      acks.length <= Math.ceil(elapsed / ackIntervalMs) + 2,
      `${acks.length} acks for ${frames} frames in ${elapsed} ms (at most one per ${ackIntervalMs} ms)`,
    )
    assert.deepEqual(await geo.runtime.actor(tally, 't1').state(), {
      value: Math.floor((frames - 1) / 7) + 1,
    })
  })

  it('answers a half window of frames with one yamux window update, not one per frame', async () => {
    const [v, r] = await Promise.all(['victim', 'raw'].map((g) => createGeo(g)))
    dirs.push(v!.dataDir, r!.dataDir)
    const geo = await startGeo(v!, { peers: [{ peerId: r!.peerId, addrs: [] }] })
    const raw = await startRawPeer(`${r!.dataDir}/peer-key`)
    const stream = await raw.open(addressOf(geo))
    // The raw peer's own yamux stream (muxer internals, read only here): count the updates it gets.
    const yamuxStream = stream as unknown as { handleWindowUpdate(frame: unknown): void }
    assert.equal(typeof yamuxStream.handleWindowUpdate, 'function', 'a yamux 8 stream')
    const handle = yamuxStream.handleWindowUpdate.bind(yamuxStream)
    let updates = 0
    yamuxStream.handleWindowUpdate = (frame) => {
      updates++
      handle(frame)
    }
    const reader = await raw.handshake(stream)
    const origin = raw.origin('log')
    // 2,000 frames of one event with a ~1 KiB payload: about 8 windows of 256 KiB.
    const frames = 2_000
    const pad = 'x'.repeat(1_000)
    let bytes = 0
    for (let n = 1; n <= frames; n++) {
      const body = encodeFrame({
        t: 'events',
        n,
        events: raw.sign([{ ...event(origin, n), payload: { by: 1, pad } as never }]),
      })
      bytes += body.byteLength
      if (!stream.send(body))
        await new Promise((resolve) => stream.addEventListener('drain', resolve, { once: true }))
    }
    const deadline = Date.now() + 30_000
    let held = 0
    while (Date.now() < deadline && held < frames) {
      const frame = await reader.next(Math.max(1, deadline - Date.now()))
      if (!frame) break
      if (frame.t === 'ack') held = Math.max(held, frame.vector[origin] ?? 0)
    }
    assert.equal(held, frames, 'every frame got through (flow control never stalled)')
    const halfWindows = Math.ceil(bytes / (128 * 1024))
    assert.ok(
      updates <= halfWindows + 4,
      `${updates} window updates for ${frames} frames (${bytes} bytes, ${halfWindows} half windows)`,
    )
  })

  it('sends many writes made close together as few frames to each peer', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    const liveCoalesceMs = 30
    const geoB = await startGeo(b!, { peers: [{ peerId: a!.peerId, addrs: [] }] })
    const geoC = await startGeo(c!, { peers: [{ peerId: a!.peerId, addrs: [] }] })
    const geoA = await startGeo(a!, {
      liveCoalesceMs,
      // The whole liveCoalesceMs at any rate (the wait is otherwise in proportion to it).
      liveCoalesceFullRate: 1,
      peers: [
        { peerId: b!.peerId, addrs: [addressOf(geoB)] },
        { peerId: c!.peerId, addrs: [addressOf(geoC)] },
      ],
    })
    await waitFor('a connected to both peers', () =>
      geoA.fabric.status().peers.every((p) => p.connected),
    )
    // 200 writes in bursts of 20, each burst of concurrent asks (group commits of up to 20).
    const started = Date.now()
    for (let burst = 0; burst < 10; burst++)
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          geoA.runtime.actor(tally, `k${i}`).ask('add', { by: 1 }),
        ),
      )
    for (const peer of [geoB, geoC])
      await waitFor(`${peer.geo} holds the 200 writes`, async () => {
        return (await peer.store.versionVector())[geoA.nodeId] === 200
      })
    const elapsed = Date.now() - started
    const out = geoA.seen('replication.out')
    for (const peer of [geoB, geoC]) {
      const frames = out.filter((e) => e.peer === peer.fabric.peerId)
      assert.equal(
        frames.reduce((sum, e) => sum + e.events, 0),
        200,
      )
      // One frame per gathered batch: at most one per liveCoalesceMs, plus the first at once.
      assert.ok(
        frames.length <= Math.ceil(elapsed / liveCoalesceMs) + 2,
        `${frames.length} frames to ${peer.geo} in ${elapsed} ms (one per ${liveCoalesceMs} ms at most)`,
      )
    }
  })

  it('does not relay to a peer what it gets from the origin itself (full mesh)', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    const geoA = await startGeo(a!, {
      peers: [
        { peerId: b!.peerId, addrs: [] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    const geoB = await startGeo(b!, {
      peers: [
        { peerId: a!.peerId, addrs: [addressOf(geoA)] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    const geoC = await startGeo(c!, {
      peers: [
        { peerId: a!.peerId, addrs: [addressOf(geoA)] },
        { peerId: b!.peerId, addrs: [addressOf(geoB)] },
      ],
    })
    const geos = [geoA, geoB, geoC]
    await waitFor('a full mesh', () =>
      geos.every((g) => g.fabric.status().peers.every((p) => p.connected)),
    )
    for (let i = 0; i < 100; i++)
      await geoA.runtime.actor(tally, `m${i % 10}`).ask('add', { by: 1 })
    // Once every geo knows every peer holds everything, nothing more will be relayed.
    await waitFor('every geo sees no lag to any peer', () =>
      geos.every((g) => g.fabric.status().peers.every((p) => p.connected && p.lagEvents === 0)),
    )
    for (const [relay, other] of [
      [geoB, geoC],
      [geoC, geoB],
    ] as const) {
      const relayed = relay
        .seen('replication.out')
        .filter((e) => e.peer === other.fabric.peerId)
        .reduce((sum, e) => sum + e.events, 0)
      assert.equal(relayed, 0, `${relay.geo} relayed ${relayed} of a's events to ${other.geo}`)
    }
    assert.equal(
      geoA.seen('replication.in').reduce((sum, e) => sum + e.events, 0),
      0,
      'no peer sent a its own events back',
    )
  })
})
