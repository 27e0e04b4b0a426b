// Origins only accumulate (every memory-store start and every new log is one): a geo that
// holds more of them than one frame's vector must keep replicating, through restarts.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { EventRecord } from '../../../core/event.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { OwnEventSigner } from '../../../transports/libp2p/event-signing.js'
import { MAX_VECTOR_ORIGINS } from '../../../transports/libp2p/frames.js'
import { loadOrCreateIdentity } from '../../../transports/libp2p/identity.js'
import { addressOf, cleanUpAfterEach, createGeo, startGeo, tally, waitFor } from './in-process.js'

const ORIGINS = 20_000

describe('fabric: a geo holding more origins than a frame carries', function () {
  this.timeout(360_000)
  const dirs = cleanUpAfterEach()

  it(`replicates ${ORIGINS.toLocaleString('en-US')} origins (as many node restarts) and keeps replicating, across a restart`, async () => {
    assert.ok(ORIGINS > MAX_VECTOR_ORIGINS)
    const [a, b] = await Promise.all(['a', 'b'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir)
    // a's key wrote one event under each of ORIGINS logs (each start of a memory-store node is one).
    const { privateKey, peerId } = await loadOrCreateIdentity(join(a!.dataDir, 'peer-key'))
    const signer = new OwnEventSigner(privateKey)
    const storeA = new MemoryEventStore()
    await storeA.start()
    const past: EventRecord[] = []
    for (let i = 0; i < ORIGINS; i++) {
      const event: EventRecord = {
        actorType: 'tally',
        actorId: 'restarts',
        origin: `a-mem-${i.toString(16).padStart(8, '0')}.${peerId}`,
        seq: 1,
        hlc: { wall: Date.now() - ORIGINS + i, logical: 0 },
        type: 'added',
        payload: { by: 1 },
      }
      past.push(...signer.seal([event]))
    }
    await storeA.ingest(past)

    const storeB = new MemoryEventStore()
    const geoB = await startGeo(
      b!,
      { peers: [{ peerId: a!.peerId, addrs: [] }] },
      { store: storeB },
    )
    const geoA = await startGeo(
      a!,
      { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] },
      { store: storeA },
    )
    const holdsAll = async () => Object.keys(await storeB.versionVector()).length >= ORIGINS
    await waitFor('b holds every origin', holdsAll, 240_000)
    assert.deepEqual(await geoB.runtime.actor(tally, 'restarts').state(), { value: ORIGINS })

    // Both ways, live, after the catch-up.
    await geoA.runtime.actor(tally, 'live').ask('add', { by: 1 })
    await geoB.runtime.actor(tally, 'live').ask('add', { by: 2 })
    await waitFor('both see both writes', async () => {
      const states = await Promise.all(
        [geoA, geoB].map((g) => g.runtime.actor(tally, 'live').state()),
      )
      return states.every((s) => s.value === 3)
    })

    // A restart of b: each side's hello now announces more than MAX_VECTOR_ORIGINS origins.
    await geoB.stop()
    const again = await startGeo(
      b!,
      { peers: [{ peerId: a!.peerId, addrs: [] }] },
      { store: storeB },
    )
    await geoA.stop()
    const geoA2 = await startGeo(
      a!,
      { peers: [{ peerId: b!.peerId, addrs: [addressOf(again)] }] },
      { store: storeA },
    )
    await geoA2.runtime.actor(tally, 'live').ask('add', { by: 4 })
    await again.runtime.actor(tally, 'live').ask('add', { by: 8 })
    await waitFor('both see the writes after the restart', async () => {
      const states = await Promise.all(
        [geoA2, again].map((g) => g.runtime.actor(tally, 'live').state()),
      )
      return states.every((s) => s.value === 15)
    })
    for (const geo of [geoA2, again]) {
      assert.equal(geo.seen('frame.rejected').length, 0, JSON.stringify(geo.seen('frame.rejected')))
      assert.equal(geo.seen('event.refused').length, 0)
    }
    assert.equal(
      countVectorOf(await storeA.versionVector()),
      countVectorOf(await storeB.versionVector()),
    )
  })
})

function countVectorOf(vector: Record<string, number>): number {
  return Object.keys(vector).length
}
