// Events signed by their origin (core/event-seal.ts), the fabric's half: a node signs the
// events it wrote as it sends them, a chunk per frame, and a receiver takes only events
// covered by a valid signature of the key their origin names. Relayed events keep the
// signatures they arrived with, so a geo verifies events whose origin it never reached.
import { sign, verify, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { ed25519PrivateKey, peerPublicKey } from './ed25519-keys.js'
import {
  MAX_SIGNED_CHUNK_EVENTS,
  originPeerId,
  sealDigest,
  type EventRecord,
  type EventSig,
} from '../../core/index.js'
import { wireDigest } from './event-wire.js'
import { eventWire } from './frames.js'

/** Signatures kept for reuse: every peer that is sent the same new events gets the same chunk. */
const SIGNATURE_CACHE_ENTRIES = 256

/**
 * Signs the events this node wrote, as they are sent: each run of consecutive seqs becomes
 * chunks of at most MAX_SIGNED_CHUNK_EVENTS, the last event of each carrying the signature.
 * One signature (about 50 µs) per chunk, and the same chunk sent to several peers is signed once.
 */
export class OwnEventSigner {
  private readonly key: KeyObject
  private readonly cache = new Map<string, EventSig>()
  /** Signatures this signer made and still caches (so a carried one is known to be its own). */
  private readonly signed = new WeakSet<EventSig>()

  constructor(privateKey: PrivateKey) {
    this.key = ed25519PrivateKey(privateKey, 'events')
  }

  /**
   * `run` (consecutive seqs of this node's origin) with its chunks signed; other signatures
   * are replaced. A run already cut into whole chunks by this signer (the `LocalFeed` seals
   * each batch once, for every peer) is returned as it is.
   */
  seal(run: readonly EventRecord[]): EventRecord[] {
    if (this.isSealed(run)) return run as EventRecord[]
    const sealed: EventRecord[] = []
    for (let start = 0; start < run.length; start += MAX_SIGNED_CHUNK_EVENTS) {
      const chunk = run.slice(start, start + MAX_SIGNED_CHUNK_EVENTS)
      for (let i = 0; i < chunk.length - 1; i++) sealed.push(withoutSig(chunk[i]!))
      const last = chunk[chunk.length - 1]!
      sealed.push({ ...last, sig: this.signatureOf(chunk) })
    }
    return sealed
  }

  /** Whether every event of `run` is in a chunk this signer signed, the chunks end to end. */
  private isSealed(run: readonly EventRecord[]): boolean {
    let chunkFrom = run[0]?.seq
    for (const event of run) {
      const { sig } = event
      if (!sig) continue
      if (sig.from !== chunkFrom || !this.signed.has(sig)) return false
      chunkFrom = event.seq + 1
    }
    return run.length > 0 && run[run.length - 1]!.sig !== undefined
  }

  private signatureOf(chunk: readonly EventRecord[]): EventSig {
    // Keyed by the digest, not the seqs: a cached signature is only ever of the same events.
    // The digest is of the events' wire bytes, encoded once for the frames that carry them.
    const digest = eventWire.digestOf(chunk)
    const id = Buffer.from(digest).toString('base64')
    const from = chunk[0]!.seq
    const cached = this.cache.get(id)
    if (cached?.from === from) return cached
    const sig: EventSig = { from, bytes: sign(null, digest, this.key) }
    this.signed.add(sig)
    if (this.cache.size >= SIGNATURE_CACHE_ENTRIES)
      this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(id, sig)
    return sig
  }
}

/**
 * `events` with the run of each own origin (`isOwn`) replaced by `seal(run)`, after the
 * events of other origins; `events` itself when it holds no own origin's.
 */
export function sealOwnRuns(
  events: readonly EventRecord[],
  isOwn: (origin: string) => boolean,
  seal: (run: EventRecord[]) => readonly EventRecord[],
): readonly EventRecord[] {
  let runs: Map<string, EventRecord[]> | undefined
  for (const event of events)
    if (isOwn(event.origin)) {
      runs ??= new Map()
      const run = runs.get(event.origin)
      if (run) run.push(event)
      else runs.set(event.origin, [event])
    }
  if (!runs) return events
  const sealed = events.filter((e) => !runs.has(e.origin))
  for (const run of runs.values()) sealed.push(...seal(run))
  return sealed
}

/** `event` without its signature (a copy; stored records are never changed). */
export function withoutSig(event: EventRecord): EventRecord {
  if (!event.sig) return event
  const { sig: _sig, ...rest } = event
  return rest
}

/** Why the events of a frame are refused: the first event found wanting, and what is wrong. */
export interface EventRefusal {
  readonly origin: string
  readonly seq: number
  readonly reason: string
}

/** How many times, on average, an event of a frame may be hashed to check its chunks. */
const MAX_HASHED_PER_EVENT = 4

/** Most PeerId keys kept parsed (this node and its allowlist); past it the cache starts over. */
const MAX_CACHED_KEYS = 1_000

/**
 * Checks replicated events before anything else is done with them: each origin must name
 * a PeerId this node accepts (its own, or an allowlisted peer's: this bounds the origins a
 * geo takes to its configuration), and each run of an origin's events in a frame must be
 * consecutive seqs, every one inside a chunk whose signature, carried in the same frame,
 * verifies against that PeerId's key. Chunks may overlap (a relay may hold two that do).
 * Costs one verification per chunk, not per event.
 */
export class EventVerifier {
  private readonly keys = new Map<string, KeyObject | string>()

  /** `accepts(peerId)`: whether events signed by this PeerId may be taken at all. */
  constructor(private readonly accepts: (peerId: string) => boolean) {}

  /**
   * Whether `origin` names a valid-looking PeerId this node does not accept: such events
   * are not taken, but they are no attack (a relay with a wider allowlist passes them on).
   */
  isForeign(origin: string): boolean {
    const peerId = originPeerId(origin)
    return peerId !== undefined && !this.accepts(peerId)
  }

  /**
   * Undefined when every event is covered by a valid signature of its origin; else why not.
   * `wire`, when given, holds each event's bytes as received (a frame's `wire`): a chunk's
   * digest is then hashed from them, not from the events encoded again.
   */
  check(events: readonly EventRecord[], wire?: readonly Uint8Array[]): EventRefusal | undefined {
    for (const [origin, indices] of byOrigin(events)) {
      const run = indices.map((i) => events[i]!)
      const parts = wire ? indices.map((i) => wire[i]!) : undefined
      const refusal = this.checkRun(origin, run, parts)
      if (refusal) return refusal
    }
    return undefined
  }

  private checkRun(
    origin: string,
    run: readonly EventRecord[],
    parts: readonly Uint8Array[] | undefined,
  ): EventRefusal | undefined {
    const first = run[0]!.seq
    const refuse = (seq: number, reason: string): EventRefusal => ({ origin, seq, reason })
    const key = this.keyOf(origin)
    if (typeof key === 'string') return refuse(first, key)
    for (let i = 1; i < run.length; i++)
      if (run[i]!.seq !== first + i)
        return refuse(run[i]!.seq, `the frame's events of this origin are not consecutive seqs`)
    // Every signature is checked (a relay passes on what it stores), at a bounded cost: an
    // honest frame's chunks overlap little, a hostile one could make each event a chunk's end.
    let hashed = 0
    for (let i = 0; i < run.length; i++) {
      const event = run[i]!
      const { sig } = event
      if (!sig) continue
      if (sig.from < first)
        return refuse(
          event.seq,
          `a partial chunk: its signature covers seqs ${sig.from} to ${event.seq}, the frame starts at ${first}`,
        )
      const chunk = run.slice(sig.from - first, i + 1)
      hashed += chunk.length
      if (hashed > MAX_HASHED_PER_EVENT * run.length + MAX_SIGNED_CHUNK_EVENTS)
        return refuse(event.seq, 'chunks that overlap far more than any sender cuts them')
      const digest = parts ? wireDigest(parts.slice(sig.from - first, i + 1)) : sealDigest(chunk)
      if (!verify(null, digest, key, sig.bytes))
        return refuse(
          event.seq,
          `the signature of seqs ${sig.from} to ${event.seq} does not verify against the origin's key`,
        )
    }
    // An event is covered when a chunk ending at or after it begins at or before it.
    let lowestFrom = Number.POSITIVE_INFINITY
    for (let i = run.length - 1; i >= 0; i--) {
      const event = run[i]!
      if (event.sig) lowestFrom = Math.min(lowestFrom, event.sig.from)
      if (lowestFrom > event.seq)
        return refuse(event.seq, 'unsigned: no signature of its origin covers it')
    }
    return undefined
  }

  /** The origin's Ed25519 public key, or why it has none this node accepts. */
  private keyOf(origin: string): KeyObject | string {
    const peerId = originPeerId(origin)
    if (!peerId) return 'its origin names no PeerId (<log id>.<PeerId>): unsigned'
    if (!this.accepts(peerId))
      return `its origin names PeerId ${peerId}, neither this node nor an allowlisted peer`
    // Kept per PeerId (every log of a node shares its key), for accepted PeerIds only.
    let key = this.keys.get(peerId)
    if (key !== undefined) return key
    key = publicKeyOf(peerId)
    if (this.keys.size >= MAX_CACHED_KEYS) this.keys.clear()
    this.keys.set(peerId, key)
    return key
  }
}

/** The Ed25519 public key a PeerId embeds, or why it has none. */
function publicKeyOf(peerId: string): KeyObject | string {
  const key = peerPublicKey(peerId)
  if (key === 'invalid') return 'its origin names no valid PeerId'
  if (key === 'not Ed25519') return 'its origin names no Ed25519 PeerId'
  return key
}

/**
 * What a sender may put in a frame from seq `next` of a relayed origin, given `events`:
 * consecutive seqs of that origin as stored (with the signatures they arrived with), the
 * first at or before `next`. A frame's run must be whole signed chunks:
 *   take:     send `events[start .. start+count)` (the run begins at a chunk's first event)
 *   readFrom: the chunk that covers `next` begins before `events[0]`: read again from there
 *   none:     no signature among `events` covers `next` (unsigned, or read further)
 */
export type RelayCut =
  | {
      readonly kind: 'take'
      readonly start: number
      readonly count: number
      /** The seqs whose signatures make the chain of chunks (others in the run are not needed). */
      readonly ends: ReadonlySet<number>
    }
  | { readonly kind: 'readFrom'; readonly seq: number }
  | { readonly kind: 'none' }

/**
 * Cuts a run for a frame of at most `room` events (but always at least one chunk): from the
 * chunk that covers `next`, then each chunk that covers the seq after the last one taken.
 */
export function cutRelayed(events: readonly EventRecord[], next: number, room: number): RelayCut {
  const base = events[0]?.seq
  if (base === undefined || next < base) return { kind: 'none' }
  let begin: number | undefined
  let end = next - 1
  const ends = new Set<number>()
  for (;;) {
    const chunk = coveringChunk(events, base, end + 1)
    if (!chunk) break
    const from = chunk.sig.from
    if (begin === undefined) {
      if (from < base) return { kind: 'readFrom', seq: from }
      begin = from
    } else if (from < begin || chunk.seq - begin + 1 > room) break
    end = chunk.seq
    ends.add(end)
  }
  if (begin === undefined) return { kind: 'none' }
  return { kind: 'take', start: begin - base, count: end - begin + 1, ends }
}

/** The first event at or after `seq` whose signed chunk covers `seq`. */
function coveringChunk(
  events: readonly EventRecord[],
  base: number,
  seq: number,
): (EventRecord & { sig: EventSig }) | undefined {
  const last = Math.min(events.length, seq - base + MAX_SIGNED_CHUNK_EVENTS)
  for (let i = seq - base; i < last; i++) {
    const event = events[i]!
    if (event.sig && event.sig.from <= seq) return event as EventRecord & { sig: EventSig }
  }
  return undefined
}

/** `run` with only the signatures of the chunks ending at `ends` (copies where one is dropped). */
export function keepSigs(run: readonly EventRecord[], ends: ReadonlySet<number>): EventRecord[] {
  return run.map((event) => (event.sig && !ends.has(event.seq) ? withoutSig(event) : event))
}

/**
 * The first event of `events` (a frame's, per origin consecutive) that no signature in
 * them covers, leaving out own origins (`isOwn`: signed as they are sent); undefined when
 * every one is covered. No signature is checked: this is what a sender asks before it sends.
 */
export function unsignedSeq(
  events: readonly EventRecord[],
  isOwn: (origin: string) => boolean,
): { origin: string; seq: number } | undefined {
  for (const [origin, indices] of byOrigin(events)) {
    if (isOwn(origin)) continue
    const run = indices.map((i) => events[i]!)
    let lowestFrom = Number.POSITIVE_INFINITY
    for (let i = run.length - 1; i >= 0; i--) {
      const event = run[i]!
      if (event.sig && event.sig.from >= run[0]!.seq)
        lowestFrom = Math.min(lowestFrom, event.sig.from)
      if (lowestFrom > event.seq) return { origin, seq: event.seq }
    }
  }
  return undefined
}

/** The indices of each origin's events, in frame order. */
function byOrigin(events: readonly EventRecord[]): Map<string, number[]> {
  const runs = new Map<string, number[]>()
  events.forEach((event, i) => {
    const run = runs.get(event.origin)
    if (run) run.push(i)
    else runs.set(event.origin, [i])
  })
  return runs
}
