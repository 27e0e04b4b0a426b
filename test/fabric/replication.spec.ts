import assert from 'node:assert/strict'
import {
  addressOf,
  createGeo,
  note,
  removeDirs,
  startGeo,
  stopAllGeos,
  tally,
  waitFor,
  type TestGeo,
} from './in-process.js'

describe('fabric: replication between in-process geos', function () {
  this.timeout(30_000)
  const dirs: string[] = []

  afterEach(async () => {
    await stopAllGeos()
  })

  after(async () => {
    await removeDirs(dirs)
  })

  async function pair(): Promise<[TestGeo, TestGeo]> {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const geoA = await startGeo(a, { peers: [{ peerId: b.peerId, addrs: [] }] })
    const geoB = await startGeo(b, {
      peers: [{ geo: 'a', peerId: a.peerId, addrs: [addressOf(geoA)] }],
    })
    return [geoA, geoB]
  }

  async function vectorsEqual(geos: TestGeo[]): Promise<boolean> {
    const vectors = await Promise.all(geos.map((g) => g.store.versionVector()))
    const first = JSON.stringify(sorted(vectors[0]!))
    return vectors.every((v) => JSON.stringify(sorted(v)) === first)
  }

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

function sorted(v: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)))
}
