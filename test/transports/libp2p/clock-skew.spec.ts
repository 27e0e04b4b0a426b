import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { MAX_HLC_LOGICAL, type EventRecord, type Hlc } from '../../../core/index.js'
import { encodeFrame, PROTOCOL_VERSION } from '../../../transports/libp2p/frames.js'
import {
  addressOf,
  createGeo,
  frameReader,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
  type TestGeo,
  cleanUpAfterEach,
} from './in-process.js'

const HOUR_MS = 60 * 60 * 1000

function remote(origin: string, seq: number, hlc: Hlc): EventRecord {
  return {
    actorType: 'tally',
    actorId: 'remote',
    origin,
    seq,
    hlc,
    type: 'added',
    payload: { by: 1 },
  }
}

describe('fabric: a clock no peer can push around', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()

  /** A victim geo replicating with an honest geo, and the key file of an allowlisted raw peer. */
  async function victimHonestAndIntruder(
    options: { honestOffsetMs?: number; maxClockSkewMs?: number } = {},
  ): Promise<{ victim: TestGeo; honest: TestGeo; keyFile: string }> {
    const v = await createGeo('victim')
    const h = await createGeo('honest')
    const intruder = await createGeo('raw')
    dirs.push(v.dataDir, h.dataDir, intruder.dataDir)
    const victim = await startGeo(
      v,
      {
        peers: [
          { geo: 'honest', peerId: h.peerId, addrs: [] },
          { geo: 'raw', peerId: intruder.peerId, addrs: [] },
        ],
      },
      options.maxClockSkewMs ? { maxClockSkewMs: options.maxClockSkewMs } : {},
    )
    const honest = await startGeo(
      h,
      { peers: [{ geo: 'victim', peerId: v.peerId, addrs: [addressOf(victim)] }] },
      options.honestOffsetMs ? { clockOffsetMs: options.honestOffsetMs } : {},
    )
    await waitFor('victim and honest connected', () =>
      [victim, honest].every((g) => g.fabric.status().peers.some((p) => p.connected)),
    )
    return { victim, honest, keyFile: join(intruder.dataDir, 'peer-key') }
  }

  async function handshake(stream: Stream) {
    const reader = frameReader(stream)
    stream.send(
      encodeFrame({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        app: 'fabric-test',
        geo: 'raw',
        node: 'node-raw',
        vector: {},
      }),
    )
    assert.equal((await reader.next())?.t, 'hello')
    return reader
  }

  it('a far-future stamp with a full counter, never stored, does not move the clock: writes keep replicating', async () => {
    const { victim, honest, keyFile } = await victimHonestAndIntruder()
    const raw = await startRawPeer(keyFile)
    const stream = await raw.open(addressOf(victim))
    const reader = await handshake(stream)
    const attack = { wall: Date.now() + 23 * HOUR_MS, logical: MAX_HLC_LOGICAL }
    // The reproduced attack, signed by the intruder's own key (it may write as itself): a
    // gap (seq 2 without 1), then a far-future event that is next in line.
    const [evil, evil2] = [raw.origin('evil'), raw.origin('evil2')]
    stream.send(encodeFrame({ t: 'events', n: 1, events: raw.sign([remote(evil, 2, attack)]) }))
    stream.send(
      encodeFrame({
        t: 'events',
        n: 2,
        events: raw.sign([
          remote(evil2, 1, attack),
          remote(evil2, 2, { wall: Date.now(), logical: 0 }),
        ]),
      }),
    )
    await waitFor('the far-future event is held back', () => victim.seen('clock.skew').length > 0)
    const ack = await reader.next()
    assert.equal(ack?.t, 'ack')
    assert.ok(ack.t === 'ack' && !ack.vector[evil] && !ack.vector[evil2], JSON.stringify(ack))
    assert.ok(victim.hlc.peek().wall <= Date.now() + victim.hlc.maxSkewMs, 'the clock did not move')
    const vector = await victim.store.versionVector()
    assert.equal((vector[evil] ?? 0) + (vector[evil2] ?? 0), 0, JSON.stringify(vector))
    const skews = victim.seen('clock.skew')
    assert.ok(skews.every((e) => e.peer === raw.peerId && e.aheadMs > 22 * HOUR_MS))
    assert.ok(
      skews.some((e) => e.origin === evil2 && e.seq === 1),
      JSON.stringify(skews),
    )

    // The victim's next local write is framable and reaches the honest geo.
    await victim.runtime.actor(tally, 'after').ask('add', { by: 5 })
    const [mine] = await victim.store.readOrigin(victim.nodeId, 1, 1)
    assert.ok(mine!.hlc.logical < MAX_HLC_LOGICAL && mine!.hlc.wall <= Date.now() + 1_000)
    await waitFor('the honest geo holds the write', async () => {
      return (await honest.store.versionVector())[victim.nodeId] === 1
    })
    assert.equal(
      honest.seen('frame.rejected').length,
      0,
      JSON.stringify(honest.seen('frame.rejected')),
    )
  })

  it('an honest geo whose clock runs ahead of the bound converges once the clock catches up, without a re-send storm', async () => {
    const { victim, honest } = await victimHonestAndIntruder({
      honestOffsetMs: 2_500,
      maxClockSkewMs: 1_000,
    })
    const outBefore = honest.seen('replication.out').length
    const writtenAt = Date.now()
    await honest.runtime.actor(tally, 'skewed').ask('add', { by: 1 })
    await honest.runtime.actor(tally, 'skewed').ask('add', { by: 2 })
    await waitFor('the events are held back', () => victim.seen('clock.skew').length > 0)
    // Held back meanwhile: not stored, and the victim's clock stays within its bound.
    assert.equal((await victim.store.versionVector())[honest.nodeId] ?? 0, 0)
    assert.ok(victim.hlc.peek().wall <= Date.now() + 1_000)
    await waitFor(
      'the victim stores them',
      async () => (await victim.store.versionVector())[honest.nodeId] === 2,
      15_000,
    )
    assert.ok(Date.now() - writtenAt >= 1_000, 'they waited for the clock')
    assert.deepEqual(await victim.runtime.actor(tally, 'skewed').state(), { value: 3 })
    // A few re-sends, not one per round trip.
    const frames = honest.seen('replication.out').length - outBefore
    assert.ok(frames < 30, `${frames} events frames sent`)
    assert.equal(victim.seen('frame.rejected').length, 0)
    // And the other way still flows.
    await victim.runtime.actor(tally, 'skewed').ask('add', { by: 4 })
    await waitFor('both converge', async () => {
      const [a, b] = await Promise.all(
        [victim, honest].map((g) => g.runtime.actor(tally, 'skewed').state()),
      )
      return a!.value === 7 && b!.value === 7
    })
  })

  it('rejects a frame stamped more than a day ahead and keeps serving', async () => {
    const { victim, keyFile } = await victimHonestAndIntruder()
    const raw = await startRawPeer(keyFile)
    const stream = await raw.open(addressOf(victim))
    const reader = await handshake(stream)
    const stamp = { wall: Date.now() + 25 * HOUR_MS, logical: 0 }
    stream.send(encodeFrame({ t: 'events', n: 1, events: [remote('evil', 1, stamp)] }))
    await waitFor('frame.rejected', () => victim.seen('frame.rejected').length > 0)
    await waitFor('stream closed', () => reader.closed())
    assert.equal((await victim.store.versionVector()).evil ?? 0, 0)
    assert.ok(victim.hlc.peek().wall <= Date.now() + victim.hlc.maxSkewMs)
  })
})
