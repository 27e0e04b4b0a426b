// Retired origins compacted out of hellos (issue 8, part 3): every start of a memory-store
// node is a new origin, so a geo's vector only grows; retirement notices signed by the key
// let two geos that share the base of retired origins leave it out of their hellos.
import assert from 'node:assert/strict'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Encoder } from '@msgpack/msgpack'
import type { EventRecord } from '../../../core/event.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { OwnEventSigner } from '../../../transports/libp2p/event-signing.js'
import { encodeFrame, MAX_VECTOR_ORIGINS } from '../../../transports/libp2p/frames.js'
import { loadOrCreateIdentity } from '../../../transports/libp2p/identity.js'
import type { Libp2pPeerStatus } from '../../../transports/libp2p/session.js'
import {
  MAX_NOTICE_RETIRED,
  signNotice,
  signNoticeBody,
} from '../../../transports/libp2p/retirement-notice.js'
import {
  addressOf,
  cleanUpAfterEach,
  createGeo,
  startGeo,
  startRawPeer,
  tally,
  waitFor,
  type TestGeo,
} from './in-process.js'

/** Most origins a hello between two geos sharing their base may announce here: each geo's live origin, and slack. */
const SMALL_HELLO = 8

type Identity = Awaited<ReturnType<typeof createGeo>>

/** `count` logs of the key in `dataDir`, each with `seqs` events (as many node restarts). */
async function pastLogs(
  identity: Identity,
  count: number,
  seqs = 1,
  prefix = 'mem',
): Promise<EventRecord[]> {
  const { privateKey, peerId } = await loadOrCreateIdentity(join(identity.dataDir, 'peer-key'))
  const signer = new OwnEventSigner(privateKey)
  const past: EventRecord[] = []
  const now = Date.now()
  for (let i = 0; i < count; i++) {
    const run: EventRecord[] = []
    for (let seq = 1; seq <= seqs; seq++)
      run.push({
        actorType: 'tally',
        actorId: 'restarts',
        origin: `${identity.geo}-${prefix}-${i.toString(16).padStart(8, '0')}.${peerId}`,
        seq,
        hlc: { wall: now - count * seqs + i * seqs + seq, logical: 0 },
        type: 'added',
        payload: { by: 1 },
      })
    past.push(...signer.seal(run))
  }
  return past
}

function peerOf(geo: TestGeo, peerId: string): Libp2pPeerStatus {
  const peer = geo.fabric.status().peers.find((p) => p.peerId === peerId)
  if (!peer) throw new Error(`${geo.geo} has no link to ${peerId}`)
  return peer
}

/** Both directions of the link from `geo` to `peerId` handshook against a shared base, with small hellos. */
function sharesSmallHellos(geo: TestGeo, peerId: string): boolean {
  const { hellos, connected } = peerOf(geo, peerId)
  return (
    connected &&
    [hellos.sender, hellos.receiver].every(
      (h) =>
        h?.sharedBase === true &&
        h.sentOrigins <= SMALL_HELLO &&
        h.receivedOrigins <= SMALL_HELLO &&
        h.notices === 0,
    )
  )
}

async function sameVectors(a: TestGeo, b: TestGeo): Promise<boolean> {
  const [va, vb] = await Promise.all([a.store.versionVector(), b.store.versionVector()])
  const keys = new Set([...Object.keys(va), ...Object.keys(vb)])
  return [...keys].every((k) => va[k] === vb[k])
}

function figure(line: string): void {
  if (process.env.ANYWHERE_TEST_FIGURES) process.stdout.write(`      ${line}\n`)
}

describe('fabric: retired origins compacted out of hellos', function () {
  this.timeout(360_000)
  const dirs = cleanUpAfterEach()

  async function pair(options: { storeA: MemoryEventStore; storeB: MemoryEventStore }) {
    const [a, b] = await Promise.all(['a', 'b'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir)
    const startB = () =>
      startGeo(b!, { peers: [{ peerId: a!.peerId, addrs: [] }] }, { store: options.storeB })
    const startA = (geoB: TestGeo) =>
      startGeo(
        a!,
        { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] },
        { store: options.storeA },
      )
    return { a: a!, b: b!, startA, startB }
  }

  it('20,000 retired origins: after one exchange the hellos carry a handful of origins, replication converges exactly, and a restart keeps them small', async () => {
    const ORIGINS = 20_000
    assert.ok(ORIGINS > MAX_VECTOR_ORIGINS)
    const storeA = new MemoryEventStore()
    const storeB = new MemoryEventStore()
    await Promise.all([storeA.start(), storeB.start()])
    const { a, b, startA, startB } = await pair({ storeA, storeB })
    await storeA.ingest(await pastLogs(a, ORIGINS))

    let geoB = await startB()
    let geoA = await startA(geoB)
    await waitFor(
      'b holds every origin',
      async () => Object.keys(await storeB.versionVector()).length >= ORIGINS,
      240_000,
      200,
    )
    // b took a's notice in the first exchange (the catch-up was against whole vectors).
    await waitFor('both hold both notices (the same base)', () => baseOf(geoA) === baseOf(geoB))
    assert.equal(retiredOf(geoB).retired.get(a.peerId)?.size, ORIGINS)
    assert.deepEqual(await geoB.runtime.actor(tally, 'restarts').state(), { value: ORIGINS })

    // A restart of both: their hellos now leave out the 20,000 retired origins.
    const restartBoth = async () => {
      await geoB.stop()
      geoB = await startB()
      await geoA.stop()
      geoA = await startA(geoB)
    }
    await restartBoth()
    await waitFor(
      'small hellos both ways, on both sides',
      () => sharesSmallHellos(geoA, b.peerId) && sharesSmallHellos(geoB, a.peerId),
      30_000,
    )
    const after = peerOf(geoA, b.peerId).hellos.receiver!
    assert.ok(after.receivedBytes < 2_000, JSON.stringify(after))

    // The same geos without a shared base (b lost its notices): whole hellos, as before
    // notices existed; and one exchange later, small ones again.
    await geoB.stop()
    await rm(join(b.dataDir, 'retired-origins'), { recursive: true, force: true })
    geoB = await startB()
    await geoA.stop()
    geoA = await startA(geoB)
    await waitFor('a connected to b again', () => peerOf(geoA, b.peerId).connected, 30_000)
    const whole = peerOf(geoA, b.peerId).hellos.sender!
    assert.equal(whole.sharedBase, false)
    assert.ok(whole.receivedOrigins >= ORIGINS, JSON.stringify(whole))
    figure(`b's hello to a, whole: ${whole.receivedOrigins} origins, ${whole.receivedBytes} bytes`)
    figure(
      `b's hello to a, compacted: ${after.receivedOrigins} origins, ${after.receivedBytes} bytes`,
    )
    await waitFor('the same base again', () => baseOf(geoA) === baseOf(geoB))
    await restartBoth()
    await waitFor(
      'small hellos again',
      () => sharesSmallHellos(geoA, b.peerId) && sharesSmallHellos(geoB, a.peerId),
      30_000,
    )

    // Replication keeps working both ways and converges exactly.
    await geoA.runtime.actor(tally, 'live').ask('add', { by: 1 })
    await geoB.runtime.actor(tally, 'live').ask('add', { by: 2 })
    await waitFor('both see both writes', async () => {
      const states = await Promise.all(
        [geoA, geoB].map((g) => g.runtime.actor(tally, 'live').state()),
      )
      return states.every((s) => s.value === 3)
    })
    await waitFor('identical vectors', () => sameVectors(geoA, geoB))
    for (const geo of [geoA, geoB]) {
      assert.equal(geo.seen('frame.rejected').length, 0, JSON.stringify(geo.seen('frame.rejected')))
      assert.equal(geo.seen('event.refused').length, 0)
    }
  })

  it('a node restarted under a new log id: its first hellos stay small, and the peers take its new notice during the session', async () => {
    const storeA = new MemoryEventStore()
    const storeB = new MemoryEventStore()
    await Promise.all([storeA.start(), storeB.start()])
    const [a, b] = await Promise.all(['a', 'b'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir)
    await storeA.ingest(await pastLogs(a!, 2_000))
    const geoB = await startGeo(
      b!,
      { peers: [{ peerId: a!.peerId, addrs: [] }] },
      { store: storeB },
    )
    const startA = (logId: string) =>
      startGeo(
        a!,
        { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] },
        { store: storeA, logId },
      )
    let geoA = await startA('a-run-1')
    await geoA.runtime.actor(tally, 'runs').ask('add', { by: 1 })
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 60_000, 100)
    await waitFor('the same base', () => baseOf(geoA) === baseOf(geoB))
    const before = baseOf(geoA)

    await geoA.stop()
    geoA = await startA('a-run-2')
    await waitFor(
      'small hellos both ways, against the notices both held',
      () => sharesSmallHellos(geoA, b!.peerId) && sharesSmallHellos(geoB, a!.peerId),
      30_000,
    )
    // Then a's new notice (a-run-1 retired) reaches b during the session.
    const run1 = `a-run-1.${a!.peerId}`
    await waitFor(
      'b holds a`s new notice',
      () => retiredSeq(geoB, run1) === 1 && baseOf(geoA) === baseOf(geoB),
      30_000,
    )
    assert.notEqual(baseOf(geoB), before)
    await geoA.runtime.actor(tally, 'runs').ask('add', { by: 2 })
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 30_000)
    assert.deepEqual(await geoB.runtime.actor(tally, 'runs').state(), { value: 3 })
    assert.equal(geoB.seen('event.refused').length, 0)
  })

  it('notices travel through a relay: in a chain a - b - c, c takes a`s notice and compacts its hellos with b', async () => {
    const storeA = new MemoryEventStore()
    await storeA.start()
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((g) => createGeo(g)))
    dirs.push(a!.dataDir, b!.dataDir, c!.dataDir)
    await storeA.ingest(await pastLogs(a!, 500))
    const geoB = await startGeo(b!, {
      peers: [
        { peerId: a!.peerId, addrs: [] },
        { peerId: c!.peerId, addrs: [] },
      ],
    })
    let geoA = await startGeo(
      a!,
      { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] },
      { store: storeA },
    )
    // c takes a's events (and notices) without a link to a: a's PeerId without an address.
    const peersOfC = {
      peers: [
        { peerId: b!.peerId, addrs: [addressOf(geoB)] },
        { peerId: a!.peerId, addrs: [] },
      ],
    }
    let geoC = await startGeo(c!, peersOfC)
    await waitFor(
      'c holds a`s 500 logs',
      async () => (await geoC.runtime.actor(tally, 'restarts').state()).value === 500,
      60_000,
    )
    // b and c hold the same notices (a, b, c); a does not take c's (c is not on its allowlist).
    await waitFor('b and c hold the same notices', () => baseOf(geoC) === baseOf(geoB), 30_000)
    await waitFor('a holds b`s notice', () => baseOf(geoA).includes(b!.peerId), 30_000)
    assert.equal(retiredOf(geoC).retired.get(a!.peerId)?.size, 500)
    await geoC.stop()
    geoC = await startGeo(c!, peersOfC, { store: geoC.store })
    await waitFor(
      'small hellos between b and c',
      () => sharesSmallHellos(geoC, b!.peerId) && sharesSmallHellos(geoB, c!.peerId),
      30_000,
    )
    // a does not take c's notice: its exchange with b leaves out what both hold alike (a's
    // and b's notices), still small; b passes c's notice on again each session.
    await geoA.stop()
    geoA = await startGeo(
      a!,
      { peers: [{ peerId: b!.peerId, addrs: [addressOf(geoB)] }] },
      { store: storeA },
    )
    await waitFor('a connected to b again', () => peerOf(geoA, b!.peerId).connected, 30_000)
    const aToB = peerOf(geoA, b!.peerId).hellos.sender!
    assert.equal(aToB.sharedBase, false)
    assert.ok(
      aToB.receivedOrigins <= SMALL_HELLO && aToB.sentOrigins <= SMALL_HELLO,
      JSON.stringify(aToB),
    )
    await geoA.runtime.actor(tally, 'relayed').ask('add', { by: 1 })
    await waitFor('c gets a`s write through b', async () => {
      return (await geoC.runtime.actor(tally, 'relayed').state()).value === 1
    })
    assert.equal(geoC.seen('event.refused').length, 0)
  })

  it('a geo that lacks a notice (bases differ): whole vectors, and still converges exactly', async () => {
    const storeA = new MemoryEventStore()
    const storeB = new MemoryEventStore()
    await Promise.all([storeA.start(), storeB.start()])
    const { a, b, startA, startB } = await pair({ storeA, storeB })
    await storeA.ingest(await pastLogs(a, 300, 2))
    await storeB.ingest(await pastLogs(b, 200, 3))
    let geoB = await startB()
    let geoA = await startA(geoB)
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 60_000, 100)
    await waitFor('the same base', () => baseOf(geoA) === baseOf(geoB))

    // b loses the notices it kept, and a writes more meanwhile under its live origin.
    await geoB.stop()
    await rm(join(b.dataDir, 'retired-origins'), { recursive: true, force: true })
    await geoA.runtime.actor(tally, 'after').ask('add', { by: 5 })
    geoB = await startB()
    await geoB.runtime.actor(tally, 'after').ask('add', { by: 7 })
    await geoA.stop()
    geoA = await startA(geoB)
    await waitFor('b is connected again', () => peerOf(geoB, a.peerId).connected, 30_000)
    await waitFor('both see both writes', async () => {
      const states = await Promise.all(
        [geoA, geoB].map((g) => g.runtime.actor(tally, 'after').state()),
      )
      return states.every((s) => s.value === 12)
    })
    const mismatched = peerOf(geoB, a.peerId).hellos.sender!
    assert.equal(mismatched.sharedBase, false)
    // Whole vectors: a's reply named every origin it holds.
    assert.ok(mismatched.receivedOrigins >= 500, JSON.stringify(mismatched))
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 30_000)
    assert.deepEqual(await geoB.runtime.actor(tally, 'restarts').state(), {
      value: 300 * 2 + 200 * 3,
    })
    assert.deepEqual(await geoA.runtime.actor(tally, 'restarts').state(), {
      value: 300 * 2 + 200 * 3,
    })

    // b has a's notice again from the exchange: the next one shares the base.
    await waitFor('the same base again', () => baseOf(geoA) === baseOf(geoB))
    await geoA.stop()
    geoA = await startA(geoB)
    await waitFor('small hellos again', () => sharesSmallHellos(geoA, b.peerId), 30_000)
  })

  it('a retired origin that gets new events: they still replicate', async () => {
    const storeA = new MemoryEventStore()
    const storeB = new MemoryEventStore()
    await Promise.all([storeA.start(), storeB.start()])
    const { a, b, startA, startB } = await pair({ storeA, storeB })
    const logs = await pastLogs(a, 50, 3)
    await storeA.ingest(logs)
    let geoB = await startB()
    let geoA = await startA(geoB)
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 60_000, 100)
    const origin = logs[0]!.origin
    assert.equal(retiredSeq(geoA, origin), 3)

    // The log comes back (a geo's member that was down, with the same log id) and writes on.
    const { privateKey } = await loadOrCreateIdentity(join(a.dataDir, 'peer-key'))
    const more = new OwnEventSigner(privateKey).seal(
      [4, 5].map((seq) => ({ ...logs[0]!, seq, hlc: { wall: Date.now(), logical: seq } })),
    )
    await storeA.ingest(more)
    await waitFor(
      'b holds the new events of the retired origin',
      async () => {
        return (await storeB.versionVector())[origin] === 5
      },
      30_000,
    )
    assert.deepEqual(await geoB.runtime.actor(tally, 'restarts').state(), { value: 50 * 3 + 2 })

    // After a restart the origin is an explicit entry of both hellos; the rest stays out.
    await geoB.stop()
    geoB = await startB()
    await geoA.stop()
    geoA = await startA(geoB)
    await waitFor(
      'small hellos',
      () => sharesSmallHellos(geoB, a.peerId) && sharesSmallHellos(geoA, b.peerId),
      30_000,
    )
    // b's hello names the origin that wrote on (its seq is past the base's), and little else.
    assert.ok(peerOf(geoA, b.peerId).hellos.receiver!.receivedOrigins >= 1)
    await geoA.runtime.actor(tally, 'restarts').ask('add', { by: 1 })
    await waitFor('identical vectors', () => sameVectors(geoA, geoB), 30_000)
    assert.deepEqual(await geoB.runtime.actor(tally, 'restarts').state(), { value: 50 * 3 + 3 })
  })

  describe('hostile notices and origins', () => {
    async function victimAndIntruder(init: { maxLiveOriginsPerKey?: number } = {}) {
      const [v, h, r] = await Promise.all(['victim', 'honest', 'raw'].map((g) => createGeo(g)))
      dirs.push(v!.dataDir, h!.dataDir, r!.dataDir)
      const honest = await startGeo(h!, { peers: [{ peerId: v!.peerId, addrs: [] }] })
      const victim = await startGeo(v!, {
        peers: [
          { peerId: h!.peerId, addrs: [addressOf(honest)] },
          { peerId: r!.peerId, addrs: [] },
        ],
        ...init,
      })
      const keyFile = join(r!.dataDir, 'peer-key')
      const raw = await startRawPeer(keyFile)
      const { privateKey } = await loadOrCreateIdentity(keyFile)
      await waitFor('victim and honest connected', () => peerOf(victim, h!.peerId).connected)
      return { victim, honest, raw, privateKey }
    }

    async function honestStillReplicates(victim: TestGeo, honest: TestGeo, id: string) {
      await victim.runtime.actor(tally, id).ask('add', { by: 2 })
      await honest.runtime.actor(tally, id).ask('add', { by: 3 })
      await waitFor('the honest geo and the victim converge', async () => {
        const states = await Promise.all(
          [victim, honest].map((g) => g.runtime.actor(tally, id).state()),
        )
        return states.every((s) => s.value === 5)
      })
    }

    const encoder = new Encoder()
    const cases: Array<
      [
        string,
        (
          raw: { peerId: string; origin(log: string): string },
          key: Parameters<typeof signNotice>[1],
          stranger: Parameters<typeof signNotice>[1],
          strangerId: string,
        ) => { key: string; body: Uint8Array; sig: Uint8Array },
        boolean,
      ]
    > = [
      [
        'a wrong signature',
        (raw, _key, stranger) => {
          const notice = {
            key: raw.peerId,
            issuedAt: Date.now(),
            live: [],
            retired: [[raw.origin('x'), 9] as const],
          }
          const signed = signNotice(notice, stranger)
          return { key: raw.peerId, body: signed.body, sig: signed.sig }
        },
        true,
      ],
      [
        'a key not on the allowlist',
        (_raw, _key, stranger, strangerId) => {
          const notice = {
            key: strangerId,
            issuedAt: Date.now(),
            live: [],
            retired: [[`x.${strangerId}`, 9] as const],
          }
          const signed = signNotice(notice, stranger)
          return { key: strangerId, body: signed.body, sig: signed.sig }
        },
        false,
      ],
      [
        `more than MAX_NOTICE_RETIRED (${MAX_NOTICE_RETIRED}) origins`,
        (raw, key) => {
          const retired = Array.from({ length: MAX_NOTICE_RETIRED + 1 }, (_, i) => [
            raw.origin(i.toString(36)),
            1,
          ])
          const body = encoder.encode([1, raw.peerId, Date.now(), [], retired])
          return { key: raw.peerId, body, sig: signNoticeBody(body, key) }
        },
        true,
      ],
      [
        'a retired origin of another key',
        (raw, key, _stranger, strangerId) => {
          const body = encoder.encode([1, raw.peerId, Date.now(), [], [[`x.${strangerId}`, 1]]])
          return { key: raw.peerId, body, sig: signNoticeBody(body, key) }
        },
        true,
      ],
    ]
    for (const [what, forge, closes] of cases)
      it(`refuses a notice with ${what} and changes nothing`, async () => {
        const { victim, honest, raw, privateKey } = await victimAndIntruder()
        const strangerDir = await createGeo('stranger')
        dirs.push(strangerDir.dataDir)
        const stranger = await loadOrCreateIdentity(join(strangerDir.dataDir, 'peer-key'))
        const before = baseOf(victim)
        const stream = await raw.open(addressOf(victim))
        const reader = await raw.handshake(stream)
        const { key, body, sig } = forge(raw, privateKey, stranger.privateKey, stranger.peerId)
        stream.send(encodeFrame({ t: 'notice', key, body, sig }))
        if (closes) {
          await waitFor('the stream is closed', () => reader.closed())
          const rejected = victim.seen('frame.rejected')
          assert.ok(
            rejected.some((r) => r.peer === raw.peerId && /notice/.test(r.reason)),
            JSON.stringify(rejected),
          )
        } else {
          // Passed over (a relay with a wider allowlist may send it): the stream stays open.
          stream.send(encodeFrame({ t: 'ping', at: 1 }))
          assert.equal((await reader.next())?.t, 'ack')
        }
        assert.equal(baseOf(victim), before)
        // Nothing of it was kept, and honest replication goes on.
        await victim.fabric.stop()
        const kept = await readdir(join(victim.dataDir, 'retired-origins'))
        assert.ok(
          kept.every((f) => !f.startsWith(key)),
          JSON.stringify(kept),
        )
        assert.equal(honest.seen('frame.rejected').length, 0)
      })

    it('takes events of at most maxLiveOriginsPerKey unlisted origins of one key; honest replication keeps working', async () => {
      const MAX = 4
      const { victim, honest, raw } = await victimAndIntruder({ maxLiveOriginsPerKey: MAX })
      const stream = await raw.open(addressOf(victim))
      const reader = await raw.handshake(stream)
      const origins = Array.from({ length: MAX + 6 }, (_, i) => raw.origin(`invented-${i}`))
      const events = raw.sign(firstEventOfEach(origins, 'invented'))
      stream.send(encodeFrame({ t: 'events', n: 1, events }))
      assert.equal((await reader.next())?.t, 'ack')
      await waitFor('the victim stored the first origins', async () => {
        return (await victim.runtime.actor(tally, 'invented').state()).value === MAX
      })
      const vector = await victim.store.versionVector()
      assert.equal(origins.filter((o) => vector[o] !== undefined).length, MAX)
      const refused = victim.seen('event.refused')
      assert.equal(new Set(refused.map((r) => r.origin)).size, 6, JSON.stringify(refused))
      assert.ok(
        refused.every((r) => r.peer === raw.peerId && /maxLiveOriginsPerKey/.test(r.reason)),
      )
      // The stream stays open, and the origins already taken keep replicating.
      const next = raw.sign(
        [{ ...events[0]!, seq: 2, sig: undefined } as EventRecord].map(stripSig),
      )
      stream.send(encodeFrame({ t: 'events', n: 2, events: next }))
      await waitFor('a taken origin writes on', async () => {
        return (await victim.store.versionVector())[origins[0]!] === 2
      })
      assert.equal(reader.closed(), false)
      await honestStillReplicates(victim, honest, 'honest')
    })

    it('a notice from the key lists its origins: events under them are taken past the bound', async () => {
      const MAX = 2
      const { victim, raw, privateKey } = await victimAndIntruder({ maxLiveOriginsPerKey: MAX })
      const origins = Array.from({ length: 5 }, (_, i) => raw.origin(`restart-${i}`))
      const stream = await raw.open(addressOf(victim))
      const reader = await raw.handshake(stream)
      const notice = signNotice(
        {
          key: raw.peerId,
          issuedAt: Date.now(),
          live: [origins[4]!],
          retired: origins.slice(0, 4).map((o) => [o, 1] as const),
        },
        privateKey,
      )
      stream.send(encodeFrame({ t: 'notice', key: raw.peerId, body: notice.body, sig: notice.sig }))
      const events = raw.sign(firstEventOfEach(origins, 'listed'))
      stream.send(encodeFrame({ t: 'events', n: 1, events }))
      assert.equal((await reader.next())?.t, 'ack')
      await waitFor('every listed origin taken', async () => {
        return (await victim.runtime.actor(tally, 'listed').state()).value === 5
      })
      assert.equal(victim.seen('event.refused').length, 0)
      assert.equal(retiredSeq(victim, origins[0]!), 1)
    })
  })
})

function stripSig(event: EventRecord): EventRecord {
  const { sig: _sig, ...rest } = event
  return rest
}

/** The digests of the notices the geo holds, per key, sorted (its fabric's base). */
function baseOf(geo: TestGeo): string {
  const { digests } = retiredOf(geo)
  return JSON.stringify(
    Object.keys(digests)
      .sort()
      .map((key) => [key, digests[key]]),
  )
}

function retiredSeq(geo: TestGeo, origin: string): number | undefined {
  return retiredOf(geo)
    .retired.get(origin.slice(origin.lastIndexOf('.') + 1))
    ?.get(origin)
}

function retiredOf(geo: TestGeo) {
  const retired = geo.fabric.retired()
  if (!retired) throw new Error(`${geo.geo}'s fabric is not running`)
  return retired
}

/** The first event (seq 1) of each origin, on one tally actor, unsigned. */
function firstEventOfEach(origins: readonly string[], actorId: string): EventRecord[] {
  return origins.map((origin, i) => ({
    actorType: 'tally',
    actorId,
    origin,
    seq: 1,
    hlc: { wall: Date.now(), logical: i },
    type: 'added',
    payload: { by: 1 },
  }))
}
