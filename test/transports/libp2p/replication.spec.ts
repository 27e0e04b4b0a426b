import assert from 'node:assert/strict'
import type { EventDraft, EventRecord } from '../../../core/event.js'
import { StoreUnavailableError } from '../../../core/errors.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import {
  addressOf,
  createGeo,
  note,
  startGeo,
  startPair,
  tally,
  waitFor,
  type TestGeo,
  cleanUpAfterEach,
} from './in-process.js'

describe('fabric: replication between in-process geos', function () {
  this.timeout(30_000)
  const dirs = cleanUpAfterEach()

  const pair = () => startPair(dirs)

  async function vectorsEqual(geos: TestGeo[]): Promise<boolean> {
    const vectors = await Promise.all(geos.map((g) => g.store.versionVector()))
    const first = JSON.stringify(sorted(vectors[0]!))
    return vectors.every((v) => JSON.stringify(sorted(v)) === first)
  }

  it('pushes an own event whose append committed although its caller saw an error', async () => {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const store = new LostReplyStore()
    const geoA = await startGeo(a, { peers: [{ peerId: b.peerId, addrs: [] }] }, { store })
    const geoB = await startGeo(b, {
      peers: [{ geo: 'a', peerId: a.peerId, addrs: [addressOf(geoA)] }],
    })
    await waitFor('both peers connected', () =>
      [geoA, geoB].every((g) => g.fabric.status().peers.every((p) => p.connected)),
    )
    store.loseNextReply = true
    await assert.rejects(geoA.runtime.actor(tally, 'ambiguous').ask('add', { by: 5 }))
    assert.equal((await store.versionVector())[geoA.nodeId], 1)
    // No further write: only the periodic refresh of the store's vector can find it.
    await waitFor('b holds the committed event', async () => {
      return (await geoB.store.versionVector())[geoA.nodeId] === 1
    })
    await waitFor('no lag', () => geoA.fabric.status().peers[0]!.lagEvents === 0)
  })

  it('replicates writes both ways and converges on the same state', async () => {
    const [a, b] = await pair()
    await waitFor('both peers connected', () =>
      [a, b].every((g) => g.fabric.status().peers.every((p) => p.connected)),
    )
    for (let i = 0; i < 20; i++) {
      await a.runtime.actor(tally, 'shared').ask('add', { by: 1 })
      await b.runtime.actor(tally, 'shared').ask('add', { by: 10 })
      await a.runtime.actor(note, 'n').ask('set', { value: `a${i}` })
      await b.runtime.actor(note, 'n').ask('set', { value: `b${i}` })
    }
    await waitFor('vectors equal', () => vectorsEqual([a, b]))
    for (const g of [a, b]) {
      assert.deepEqual(await g.runtime.actor(tally, 'shared').state(), { value: 220 })
    }
    const [noteA, noteB] = await Promise.all([
      a.runtime.actor(note, 'n').state(),
      b.runtime.actor(note, 'n').state(),
    ])
    assert.deepEqual(noteA, noteB)
    assert.equal(noteA.history.length, 40)
    await waitFor('lag reaches zero', () =>
      [a, b].every((g) => g.fabric.status().peers.every((p) => p.lagEvents === 0)),
    )
    const status = a.fabric.status()
    assert.equal(status.peers[0]!.geo, 'b')
    assert.equal(status.peers[0]!.lagMs, 0)
    assert.ok(a.seen('replication.out').length > 0)
    assert.ok(b.seen('replication.in').length > 0)
    assert.ok(a.seen('peer.connected').some((e) => e.geo === 'b'))
  })
})

/** A store whose next append commits and then fails, as when a reply is lost after the commit. */
class LostReplyStore extends MemoryEventStore {
  loseNextReply = false

  override async append(drafts: readonly EventDraft[]): Promise<EventRecord[]> {
    const records = await super.append(drafts)
    if (!this.loseNextReply) return records
    this.loseNextReply = false
    throw new StoreUnavailableError('the reply to an append timed out (it committed)')
  }
}

function sorted(v: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)))
}
