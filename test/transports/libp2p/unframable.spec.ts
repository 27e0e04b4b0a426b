import assert from 'node:assert/strict'
import { encode } from '@msgpack/msgpack'
import type { EventRecord } from '../../../core/event.js'
import { MAX_FRAME_BYTES, MAX_FRAME_PAYLOAD_DEPTH } from '../../../transports/libp2p/frames.js'
import { join } from 'node:path'
import { OwnEventSigner } from '../../../transports/libp2p/event-signing.js'
import { loadOrCreateIdentity } from '../../../transports/libp2p/identity.js'
import { cleanUpAfterEach, startPair, tally, waitFor, type TestGeo } from './in-process.js'

/** A payload `depth` levels deep (a scalar is 0 deep). */
function nested(depth: number): unknown {
  let payload: unknown = 'leaf'
  for (let i = 0; i < depth; i++) payload = { d: payload }
  return payload
}

function event(origin: string, seq: number, payload: unknown): EventRecord {
  return {
    actorType: 'tally',
    actorId: `${origin}-${seq}`,
    origin,
    seq,
    hlc: { wall: Date.now(), logical: 0 },
    type: 'added',
    payload,
  }
}

/**
 * Events of other logs of geo `a`'s key (arrived by another path: an old node, a restored
 * backup), each signed on its own so that skipping one leaves the others whole.
 */
async function otherLogsOf(a: TestGeo) {
  const { privateKey, peerId } = await loadOrCreateIdentity(join(a.dataDir, 'peer-key'))
  const signer = new OwnEventSigner(privateKey)
  return {
    origin: (log: string) => `${log}.${peerId}`,
    signed: (events: EventRecord[]) => events.map((e) => signer.seal([e])[0]!),
  }
}

describe('fabric: events that cannot be framed', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()

  async function pair(): Promise<[TestGeo, TestGeo]> {
    const [geoA, geoB] = await startPair(dirs)
    await waitFor('both peers connected', () =>
      [geoA, geoB].every((g) => g.fabric.status().peers.every((p) => p.connected)),
    )
    return [geoA, geoB]
  }

  it('replicates an event nested as deep as the msgpack stores hold', async () => {
    const [a, b] = await pair()
    const deep = nested(97)
    // What a msgpack store encodes (a record array around the payload) takes it.
    assert.doesNotThrow(() => encode([0, deep]))
    // Arrived by another path (an old node, a restored backup): the refresh finds it.
    const logs = await otherLogsOf(a)
    const [x, y] = [logs.origin('x'), logs.origin('y')]
    await a.store.ingest(
      logs.signed([event(x, 1, deep), event(x, 2, { by: 1 }), event(y, 1, { by: 2 })]),
    )
    await a.runtime.actor(tally, 'after').ask('add', { by: 3 })
    await waitFor('b holds everything', async () => {
      const vector = await b.store.versionVector()
      return vector[x] === 2 && vector[y] === 1 && vector[a.nodeId] === 1
    })
    const [stored] = await b.store.readOrigin(x, 1, 1)
    assert.deepEqual(stored!.payload, deep)
    assert.equal(a.seen('peer.lost').length, 0)
  })

  it('skips an event nested too deep for a frame, reports it and replicates the rest', async () => {
    const [a, b] = await pair()
    const tooDeep = MAX_FRAME_PAYLOAD_DEPTH + 20
    const logs = await otherLogsOf(a)
    const [x, y] = [logs.origin('x'), logs.origin('y')]
    await a.store.ingest(
      logs.signed([
        event(x, 1, { by: 1 }),
        event(x, 2, nested(tooDeep)),
        event(x, 3, { by: 1 }),
        event(y, 1, { by: 2 }),
      ]),
    )
    await a.runtime.actor(tally, 'after').ask('add', { by: 3 })
    await waitFor('b holds every other event', async () => {
      const vector = await b.store.versionVector()
      return vector[x] === 1 && vector[y] === 1 && vector[a.nodeId] === 1
    })
    await waitFor('the skip is reported', () => a.seen('frame.rejected').length > 0)
    const rejected = a.seen('frame.rejected')
    assert.equal(rejected.length, 1, JSON.stringify(rejected))
    assert.match(rejected[0]!.reason, /event x\.\w+:2 cannot be sent \(it cannot be framed/)
    const peer = a.fabric.status().peers[0]!
    assert.equal(peer.unframableEvents, 1)
    assert.deepEqual(peer.blockedOrigins, { [x]: 2 })
    assert.ok(peer.connected)
    // The receiver stores no gaps: x:2 and x:3 stay missing there, and the lag says so.
    await waitFor('lag settles at the two held-back events', () => {
      const status = a.fabric.status().peers[0]!
      return status.lagEvents === 2
    })
    // Later writes keep flowing, on the same session (no redial loop).
    await a.runtime.actor(tally, 'later').ask('add', { by: 1 })
    await waitFor('a later write replicated', async () => {
      return (await b.store.versionVector())[a.nodeId] === 2
    })
    assert.equal(a.seen('peer.connected').length, 1)
    assert.equal(a.seen('peer.lost').length, 0)
    assert.equal((await b.store.versionVector())[x], 1)
  })

  it('skips an event larger than a frame and counts it in status', async () => {
    const [a, b] = await pair()
    const logs = await otherLogsOf(a)
    const [big, y] = [logs.origin('big'), logs.origin('y')]
    await a.store.ingest(
      logs.signed([
        event(big, 1, { blob: 'x'.repeat(MAX_FRAME_BYTES + 1) }),
        event(y, 1, { by: 2 }),
      ]),
    )
    await waitFor('the other origin replicated', async () => {
      return (await b.store.versionVector())[y] === 1
    })
    await waitFor('the skip is counted', () => {
      return a.fabric.status().peers[0]!.unframableEvents === 1
    })
    assert.deepEqual(a.fabric.status().peers[0]!.blockedOrigins, { [big]: 1 })
    assert.match(
      a.seen('frame.rejected')[0]!.reason,
      /event big\.\w+:1 cannot be sent \(it cannot be framed/,
    )
    assert.equal((await b.store.versionVector())[big], undefined)
  })
})
