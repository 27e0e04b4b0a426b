// The registry of retirement notices on its own: compacting and reading back a hello's
// vector, and issuing this node's notice only when something changed.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../../../core/clock.js'
import { silentLogger } from '../../../core/logger.js'
import type { VersionVector } from '../../../core/version-vector.js'
import { loadOrCreateIdentity } from '../../../transports/libp2p/identity.js'
import {
  compactVector,
  expandVector,
  fileNoticeKeeper,
  RetiredOrigins,
  sharedKeys,
} from '../../../transports/libp2p/retired-origins.js'
import { MAX_NOTICE_RETIRED, signNotice } from '../../../transports/libp2p/retirement-notice.js'

describe('fabric: the registry of retirement notices', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  const made: RetiredOrigins[] = []
  after(async () => {
    // Notices are written in the background: wait for them before removing their dirs.
    await Promise.all(made.map((r) => r.flushed()))
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  async function registry() {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-retired-'))
    dirs.push(dir)
    const { privateKey, peerId } = await loadOrCreateIdentity(join(dir, 'peer-key'))
    const make = () => {
      const retired = new RetiredOrigins({
        keeper: fileNoticeKeeper(join(dir, 'retired-origins')),
        key: peerId,
        privateKey,
        accepts: (key) => key === peerId,
        maxLiveOriginsPerKey: 4,
        clock: systemClock(),
        logger: silentLogger(),
      })
      made.push(retired)
      return retired
    }
    return { peerId, make }
  }

  it('reads a compacted vector back exactly against the same notices', async () => {
    const { peerId, make } = await registry()
    const retired = make()
    await retired.load()
    const origin = (i: number) => `log-${i}.${peerId}`
    const known: VersionVector = {}
    for (let i = 0; i < 100; i++) known[origin(i)] = i + 1
    assert.equal(retired.issue([origin(0)], known), true)
    const base = retired.snapshot
    const keys = sharedKeys(base, base.digests)
    assert.deepEqual(keys, [peerId])
    // Another holder: one retired origin further on, one not held at all, one other origin.
    const theirs: VersionVector = { ...known, [origin(5)]: 99, ['other.x']: 3 }
    delete theirs[origin(7)]
    const explicit = compactVector(theirs, base, keys)
    assert.deepEqual(explicit, {
      [origin(0)]: 1,
      [origin(5)]: 99,
      [origin(7)]: 0,
      ['other.x']: 3,
    })
    assert.deepEqual(expandVector(explicit, base, keys), theirs)
    // Against no shared notice, the compacted vector says less, never more.
    const alone = expandVector(explicit, base, [])
    for (const [o, seq] of Object.entries(alone)) assert.ok(seq <= (theirs[o] ?? 0), o)
  })

  it('issues again only when something changed, and keeps its notice across a restart', async () => {
    const { peerId, make } = await registry()
    const retired = make()
    await retired.load()
    const known = { [`a.${peerId}`]: 3, [`b.${peerId}`]: 1 }
    assert.equal(retired.issue([`b.${peerId}`], known), true)
    assert.equal(retired.issue([`b.${peerId}`], known), false)
    // A retired origin that writes on is no new notice (it is an explicit hello entry).
    assert.equal(retired.issue([`b.${peerId}`], { ...known, [`a.${peerId}`]: 4 }), false)
    assert.equal(retired.issue([`c.${peerId}`], { ...known, [`c.${peerId}`]: 1 }), true)
    const digest = retired.snapshot.digests[peerId]
    await retired.flushed()
    const again = make()
    await again.load()
    assert.equal(again.snapshot.digests[peerId], digest)
    assert.equal(again.issue([`c.${peerId}`], { ...known, [`c.${peerId}`]: 1 }), false)
  })

  it(`a key with more than MAX_NOTICE_RETIRED retired origins issues once, not at every refresh`, async () => {
    const { peerId, make } = await registry()
    const retired = make()
    await retired.load()
    const known: VersionVector = {}
    for (let i = 0; i <= MAX_NOTICE_RETIRED; i++) known[`${i.toString(36)}.${peerId}`] = 1
    assert.equal(retired.issue([], known), true)
    assert.equal(retired.snapshot.retired.get(peerId)?.size, MAX_NOTICE_RETIRED)
    assert.equal(retired.issue([], known), false)
  })

  it('takes events of at most maxLiveOriginsPerKey origins no notice lists', async () => {
    const { peerId, make } = await registry()
    const retired = make()
    await retired.load()
    const fresh = Array.from({ length: 6 }, (_, i) => `fresh-${i}.${peerId}`)
    assert.deepEqual(
      fresh.map((o) => retired.admits(o, {})),
      [true, true, true, true, false, false],
    )
    // Once a notice lists them, they no longer count.
    retired.issue([fresh[0]!], { [fresh[1]!]: 1, [fresh[2]!]: 1, [fresh[3]!]: 1 })
    assert.equal(retired.unlistedOf(peerId), 0)
    assert.equal(retired.admits(fresh[4]!, {}), true)
  })

  it('keeps only the newest notice of a key when a peer sends them faster than the disk writes them', async () => {
    const { peerId } = await registry()
    // The peer's key: an allowlisted peer that issues a new notice of itself again and again.
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-retired-peer-'))
    dirs.push(dir)
    const peer = await loadOrCreateIdentity(join(dir, 'peer-key'))
    // A disk that stalls until `release` (a slow fsync): what is asked of it meanwhile waits.
    const file = fileNoticeKeeper(join(dir, 'retired-origins'))
    let release: () => void = () => {}
    const stalled = new Promise<void>((resolve) => (release = resolve))
    const keeps: number[] = []
    const retired = new RetiredOrigins({
      keeper: {
        load: () => file.load(),
        keep: async (key, bytes) => {
          keeps.push(bytes.byteLength)
          await stalled
          await file.keep(key, bytes)
        },
      },
      key: peerId,
      privateKey: (await loadOrCreateIdentity(join(dir, 'own-key'))).privateKey,
      accepts: (key) => key === peer.peerId,
      maxLiveOriginsPerKey: 4,
      clock: systemClock(),
      logger: silentLogger(),
    })
    made.push(retired)
    await retired.load()
    // Notices of about 200 kB (2,000 retired origins), 200 of them, each newer than the last.
    const retiredOrigins = Array.from(
      { length: 2_000 },
      (_, i) => [`${'r'.repeat(60)}-${i}.${peer.peerId}`, i + 1] as [string, number],
    )
    const NOTICES = 200
    let newest: Uint8Array = new Uint8Array()
    for (let n = 1; n <= NOTICES; n++) {
      const signed = signNotice(
        { key: peer.peerId, issuedAt: n, live: [], retired: retiredOrigins },
        peer.privateKey,
      )
      assert.equal(retired.receive(peer.peerId, signed.body, signed.sig).kind, 'newer')
      newest = signed.body
    }
    release()
    await retired.flushed()
    // What waits for the disk is the newest notice of the key, not every notice received
    // (each held in memory until written: a peer sending them fast would grow it without end).
    assert.ok(
      keeps.length <= 2,
      `${keeps.length} notices of one key written for ${NOTICES} received (${keeps.reduce((a, b) => a + b, 0)} bytes held)`,
    )
    const [kept] = await file.load()
    assert.deepEqual(Buffer.from(kept!.bytes.subarray(64)), Buffer.from(newest))
  })
})
