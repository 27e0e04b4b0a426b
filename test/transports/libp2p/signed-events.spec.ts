import assert from 'node:assert/strict'
import type { Stream } from '@libp2p/interface'
import type { EventRecord } from '../../../core/event.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { encodeFrame, PROTOCOL_VERSION } from '../../../transports/libp2p/frames.js'
import {
  addressOf,
  cleanUpAfterEach,
  createGeo,
  frameReader,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
  type RawPeer,
  type TestGeo,
} from './in-process.js'

function event(origin: string, seq: number, actorId = 'x', by = 1): EventRecord {
  return {
    actorType: 'tally',
    actorId,
    origin,
    seq,
    hlc: { wall: Date.now(), logical: 0 },
    type: 'added',
    payload: { by },
  }
}

describe('fabric: events signed by their origin', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()

  /** A victim geo, an honest peer of it, and an allowlisted raw (hostile) peer. */
  async function victimAndIntruder(): Promise<{ victim: TestGeo; honest: TestGeo; raw: RawPeer }> {
    const [v, h, r] = await Promise.all(['victim', 'honest', 'raw'].map((g) => createGeo(g)))
    dirs.push(v!.dataDir, h!.dataDir, r!.dataDir)
    const honest = await startGeo(h!, { peers: [{ peerId: v!.peerId, addrs: [] }] })
    const victim = await startGeo(v!, {
      peers: [
        { peerId: h!.peerId, addrs: [addressOf(honest)] },
        { peerId: r!.peerId, addrs: [] },
      ],
    })
    const raw = await startRawPeer(`${r!.dataDir}/peer-key`)
    return { victim, honest, raw }
  }

  async function openSession(raw: RawPeer, victim: TestGeo) {
    const stream: Stream = await raw.open(addressOf(victim))
    const reader = frameReader(stream)
    stream.send(
      encodeFrame({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        app: 'fabric-test',
        geo: 'raw',
        node: 'raw',
        vector: {},
      }),
    )
    assert.equal((await reader.next())?.t, 'hello')
    return { stream, reader }
  }

  for (const [what, forge] of [
    [
      "the victim's own origin",
      (raw: RawPeer, victim: TestGeo) => raw.sign([event(victim.nodeId, 1, 'x', 1_000)]),
    ],
    [
      "an honest geo's origin",
      (raw: RawPeer, _victim: TestGeo, honest: TestGeo) =>
        raw.sign([event(honest.nodeId, 1, 'x', 1_000)]),
    ],
    [
      'its own origin, altered after signing',
      (raw: RawPeer) =>
        raw.sign([event(raw.origin('log'), 1)]).map((e) => ({ ...e, payload: { by: 1_000 } })),
    ],
    ['its own origin, unsigned', (raw: RawPeer) => [event(raw.origin('log'), 1, 'x', 1_000)]],
  ] as const) {
    it(`refuses an event under ${what} before storing it, names the peer, and keeps replicating`, async () => {
      const { victim, honest, raw } = await victimAndIntruder()
      const { stream, reader } = await openSession(raw, victim)
      stream.send(encodeFrame({ t: 'events', n: 1, events: forge(raw, victim, honest) }))
      await waitFor('event.refused tap', () => victim.seen('event.refused').length > 0)
      await waitFor('the stream is closed', () => reader.closed())
      const [refused] = victim.seen('event.refused')
      assert.equal(refused!.peer, raw.peerId)
      assert.deepEqual(await victim.store.readActor('tally', 'x'), [])
      assert.deepEqual(await victim.runtime.actor(tally, 'x').state(), { value: 0 })
      // The intruder may still write as itself, and the honest geos keep replicating.
      const again = await openSession(raw, victim)
      again.stream.send(
        encodeFrame({ t: 'events', n: 1, events: raw.sign([event(raw.origin('log'), 1, 'y')]) }),
      )
      assert.equal((await again.reader.next())?.t, 'ack')
      assert.deepEqual(await victim.runtime.actor(tally, 'y').state(), { value: 1 })
      await victim.runtime.actor(tally, 'z').ask('add', { by: 2 })
      await waitFor('the honest geo gets the write', async () => {
        return (await honest.runtime.actor(tally, 'z').state()).value === 2
      })
      assert.equal(honest.seen('event.refused').length, 0)
    })
  }

  it('a geo that lost its events takes them back from a peer, signed by its own key', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir)
    const geoB = await startGeo(b!, { peers: [{ peerId: a!.peerId, addrs: [] }] })
    const peersOfA = { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] }
    let geoA = await startGeo(a!, peersOfA)
    for (let i = 1; i <= 5; i++) await geoA.runtime.actor(tally, 'kept').ask('add', { by: i })
    await waitFor('b holds a`s events', async () => {
      return (await geoB.store.versionVector())[geoA.nodeId] === 5
    })
    // a comes back with an empty store under the same origin (its log was lost).
    await geoA.stop()
    geoA = await startGeo(a!, peersOfA, { store: new MemoryEventStore() })
    await waitFor('a holds its own events again', async () => {
      return (await geoA.store.versionVector())[geoA.nodeId] === 5
    })
    assert.deepEqual(await geoA.runtime.actor(tally, 'kept').state(), { value: 15 })
    assert.equal(geoA.seen('event.refused').length, 0)
  })

  it('passes over events of an origin it does not allowlist, without closing the stream or a re-send storm', async () => {
    // a -- b -- c where only b allowlists everyone: c does not take a's events.
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    const geoB = await startGeo(b!, {
      peers: [
        { peerId: a!.peerId, addrs: [] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    const geoA = await startGeo(a!, { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] })
    const geoC = await startGeo(c!, { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] })
    for (let i = 0; i < 20; i++) await geoA.runtime.actor(tally, 'from-a').ask('add', { by: 1 })
    await geoB.runtime.actor(tally, 'from-b').ask('add', { by: 1 })
    await waitFor('c holds b`s write', async () => {
      return (await geoC.runtime.actor(tally, 'from-b').state()).value === 1
    })
    await waitFor('b sees c as up to date', () =>
      geoB.fabric.status().peers.every((p) => p.lagEvents === 0),
    )
    const sentBefore = geoB.seen('replication.out').length
    await geoB.runtime.actor(tally, 'from-b').ask('add', { by: 1 })
    await waitFor('c holds b`s second write', async () => {
      return (await geoC.runtime.actor(tally, 'from-b').state()).value === 2
    })
    assert.equal((await geoC.store.versionVector())[geoA.nodeId], undefined)
    assert.deepEqual(await geoC.runtime.actor(tally, 'from-a').state(), { value: 0 })
    assert.equal(geoC.seen('event.refused').length, 0)
    assert.equal(geoC.seen('peer.lost').length, 0)
    // One write, a frame or two to each peer: a's events were not sent again.
    assert.ok(geoB.seen('replication.out').length - sentBefore <= 4)
  })
})
