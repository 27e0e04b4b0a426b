import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { EventRecord } from '../../../core/event.js'
import {
  cutRelayed,
  EventVerifier,
  keepSigs,
  OwnEventSigner,
  unsignedSeq,
} from '../../../transports/libp2p/event-signing.js'
import { wireDigest } from '../../../transports/libp2p/event-wire.js'
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES } from '../../../transports/libp2p/frames.js'
import { sealDigest } from '../../../core/event-seal.js'

async function keyPair() {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { privateKey, peerId, signer: new OwnEventSigner(privateKey), origin: `log-1.${peerId}` }
}

function events(origin: string, from: number, to: number): EventRecord[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({
    actorType: 'tally',
    actorId: `id-${(from + i) % 3}`,
    origin,
    seq: from + i,
    hlc: { wall: 1_700_000_000_000 + from + i, logical: 0 },
    type: 'added',
    payload: { by: from + i, nested: { list: [1, 'é', null] } },
  }))
}

describe('event signing: chunks signed by their origin', () => {
  it('signs a run as chunks of at most 1024 events that the verifier takes, and refuses any change', async () => {
    const me = await keyPair()
    const verifier = new EventVerifier((peerId) => peerId === me.peerId)
    const sealed = me.signer.seal(events(me.origin, 1, 2_050))
    assert.deepEqual(
      sealed.filter((e) => e.sig).map((e) => [e.seq, e.sig!.from]),
      [
        [1_024, 1],
        [2_048, 1_025],
        [2_050, 2_049],
      ],
    )
    assert.equal(verifier.check(sealed.slice(0, 1_024)), undefined)
    assert.equal(verifier.check(sealed.slice(1_024)), undefined)
    const altered = sealed
      .slice(0, 1_024)
      .map((e) => (e.seq === 7 ? { ...e, payload: { by: 1e6 } } : e))
    assert.match(verifier.check(altered)!.reason, /does not verify/)
    const restamped = sealed
      .slice(0, 1_024)
      .map((e) => (e.seq === 9 ? { ...e, hlc: { wall: 1, logical: 0 } } : e))
    assert.match(verifier.check(restamped)!.reason, /does not verify/)
    // A chunk cut short (its first events missing) or its end missing is refused.
    assert.match(verifier.check(sealed.slice(5, 1_024))!.reason, /partial chunk/)
    assert.match(verifier.check(sealed.slice(0, 1_000))!.reason, /unsigned/)
    // Not consecutive.
    const gap = sealed.slice(2_048).concat()
    assert.match(verifier.check([sealed[2_046]!, ...gap])!.reason, /not consecutive|partial/)
  })

  it('verifies a frame from the bytes it arrived as, which hash to the digest of the events', async () => {
    const me = await keyPair()
    const verifier = new EventVerifier((peerId) => peerId === me.peerId)
    const sealed = me.signer.seal(events(me.origin, 1, 10))
    const body = encodeFrame({ t: 'events', n: 1, events: sealed }).subarray(FRAME_HEADER_BYTES)
    const frame = decodeFrame(body)
    assert.ok(frame.t === 'events' && frame.wire)
    const plain = (list: EventRecord[]) =>
      list.map((e) => ({ ...e, sig: e.sig && { ...e.sig, bytes: Buffer.from(e.sig.bytes) } }))
    assert.deepEqual(plain(frame.events), plain(sealed))
    assert.deepEqual(
      wireDigest(frame.wire),
      sealDigest(sealed),
      'the wire bytes are what the digest covers',
    )
    assert.equal(verifier.check(frame.events, frame.wire), undefined)
    // One byte of a payload changed on the way: `null` in event 4's payload becomes `false`.
    const tampered = Uint8Array.from(body)
    const end = frame.wire[3]!.byteOffset - body.byteOffset + frame.wire[3]!.byteLength
    assert.equal(tampered[end - 1], 0xc0)
    tampered[end - 1] = 0xc2
    const altered = decodeFrame(tampered)
    assert.ok(altered.t === 'events' && altered.wire)
    assert.deepEqual(altered.events[3]!.payload, { by: 4, nested: { list: [1, 'é', false] } })
    assert.match(verifier.check(altered.events, altered.wire)!.reason, /does not verify/)
  })

  it('sends a run it sealed already as it is, and signs a run cut from it anew', async () => {
    const me = await keyPair()
    const verifier = new EventVerifier((peerId) => peerId === me.peerId)
    const sealed = me.signer.seal(events(me.origin, 1, 5))
    assert.equal(me.signer.seal(sealed), sealed, 'no second signature for the same chunks')
    const cut = me.signer.seal(sealed.slice(2))
    assert.notEqual(cut, sealed.slice(2))
    assert.deepEqual(
      cut.filter((e) => e.sig).map((e) => [e.seq, e.sig!.from]),
      [[5, 3]],
    )
    assert.equal(verifier.check(cut), undefined)
    // Signatures another key made are never taken as this signer's.
    const other = await keyPair()
    const foreign = other.signer.seal(events(me.origin, 1, 5))
    assert.notEqual(me.signer.seal(foreign), foreign)
    assert.equal(verifier.check(me.signer.seal(foreign)), undefined)
  })

  it('refuses events under an origin whose key did not sign them, and origins it does not accept', async () => {
    const me = await keyPair()
    const intruder = await keyPair()
    const stranger = await keyPair()
    const accepted = new Set([me.peerId, intruder.peerId])
    const verifier = new EventVerifier((peerId) => accepted.has(peerId))
    // The intruder signs events that claim my origin: refused.
    const forged = intruder.signer.seal(events(me.origin, 1, 3))
    assert.match(verifier.check(forged)!.reason, /does not verify/)
    // Its own events verify.
    assert.equal(verifier.check(intruder.signer.seal(events(intruder.origin, 1, 3))), undefined)
    // A stranger's own, validly signed events: not an accepted key.
    assert.equal(verifier.isForeign(stranger.origin), true)
    assert.match(
      verifier.check(stranger.signer.seal(events(stranger.origin, 1, 1)))!.reason,
      /allowlisted/,
    )
    // Origins that name no PeerId, or a broken one: unsigned, not foreign.
    assert.equal(verifier.isForeign('geo-1234'), false)
    assert.match(verifier.check(events('geo-1234', 1, 1))!.reason, /names no PeerId/)
    assert.match(verifier.check(events('log.notAPeerId', 1, 1))!.reason, /allowlisted|valid PeerId/)
    // A signature moved from another event: refused.
    const [mine] = me.signer.seal(events(me.origin, 1, 1))
    const moved = { ...events(me.origin, 1, 1)[0]!, payload: { by: 9 }, sig: mine!.sig! }
    assert.match(verifier.check([moved])!.reason, /does not verify/)
  })

  it('bounds the hashing a frame of overlapping chunks costs', async () => {
    const me = await keyPair()
    const verifier = new EventVerifier(() => true)
    // Every event the end of a chunk from seq 1: each check would hash the whole prefix again.
    const base = events(me.origin, 1, 1_024)
    const sigs = base.map((_, i) => me.signer.seal(base.slice(0, i + 1)).at(-1)!.sig!)
    const hostile = base.map((e, i) => ({ ...e, sig: sigs[i]! }))
    const started = process.hrtime.bigint()
    assert.match(verifier.check(hostile)!.reason, /overlap/)
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    assert.ok(ms < 1_000, `took ${ms} ms`)
  })

  it('relays whole chunks: a run that starts inside a chunk is read again from its start, and overlapping chunks chain', async () => {
    const o = await keyPair()
    const all = events(o.origin, 1, 100)
    // What a relay holds: chunk 1-10 (from the origin) and chunk 1-64 (from another relay)
    // overlap; then 65-100.
    const first = o.signer.seal(all.slice(0, 10))
    const second = o.signer.seal(all.slice(0, 64))
    const third = o.signer.seal(all.slice(64))
    const stored = [...first, ...second.slice(10), ...third]
    // The peer holds 1-10 and asks from 11: the chunk that covers 11 starts at 1.
    assert.deepEqual(cutRelayed(stored.slice(10), 11, 256), { kind: 'readFrom', seq: 1 })
    const cut = cutRelayed(stored, 11, 256)
    assert.equal(cut.kind, 'take')
    if (cut.kind !== 'take') return
    assert.deepEqual([cut.start, cut.count, [...cut.ends]], [0, 100, [64, 100]])
    const frame = keepSigs(stored.slice(cut.start, cut.start + cut.count), cut.ends)
    assert.deepEqual(
      frame.filter((e) => e.sig).map((e) => e.seq),
      [64, 100],
    )
    const verifier = new EventVerifier(() => true)
    assert.equal(verifier.check(frame), undefined)
    assert.equal(
      unsignedSeq(frame, (origin) => origin === 'me'),
      undefined,
    )
    // A room of 70 events stops after the first chunk; an unsigned run is found before sending.
    const small = cutRelayed(stored, 11, 70)
    assert.deepEqual(small.kind === 'take' && [small.start, small.count], [0, 64])
    assert.deepEqual(
      unsignedSeq(all.slice(0, 5), (origin) => origin === 'me'),
      { origin: o.origin, seq: 5 },
    )
    assert.deepEqual(cutRelayed(all, 1, 256), { kind: 'none' })
  })
})
