// The retired origins this node knows of, from the newest notice of each key it accepts: the
// *base* both sides of a hello leave out when they share it, and the bound on how many
// unlisted origins a key may write under. Correctness never depends on it: an origin whose
// seq here differs from the base's is sent explicitly, and two geos whose bases differ send
// their whole vectors (docs/fabric.md, "Retired origins").
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import {
  originPeerId,
  type Clock,
  type Logger,
  type NoticeKeeper,
  type VersionVector,
} from '../../core/index.js'
import { writeFileDurably } from '../../support/durable-file.js'
import { readSmallFile } from '../../support/small-file.js'
import {
  MAX_NOTICE_BYTES,
  MAX_NOTICE_LIVE,
  noticeDigest,
  openNotice,
  signNotice,
  type SignedNotice,
} from './retirement-notice.js'
import { makeDirectory } from '../../support/make-directory.js'

/** The notices held at one moment: hellos are compacted against them. */
export interface RetiredBase {
  /** Per key, the digest of its notice held (what a hello's `bases` names). */
  readonly digests: Readonly<Record<string, string>>
  /** Per key, its retired origins and the seq its notice names for each. */
  readonly retired: ReadonlyMap<string, ReadonlyMap<string, number>>
}

/** What became of a notice received from a peer. */
export type NoticeReceipt =
  | { readonly kind: 'newer' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'foreign' }
  | { readonly kind: 'refused'; readonly reason: string }

interface HeldNotice {
  readonly signed: SignedNotice
  readonly digest: string
  readonly live: ReadonlySet<string>
  readonly retired: ReadonlyMap<string, number>
}

/** What the registry needs from the fabric. */
export interface RetiredOriginsComponents {
  /** Where notices are kept (`fileNoticeKeeper(<dataDir>/retired-origins)` unless the node says). */
  readonly keeper: NoticeKeeper
  /** This node's fabric key (a geo's shared one in a geo of several nodes), and its PeerId. */
  readonly key: string
  readonly privateKey: PrivateKey
  /** Whether notices (and events) of this PeerId are taken: own or allowlisted. */
  readonly accepts: (peerId: string) => boolean
  /** Most origins of one key neither live nor retired in its newest notice that events are taken under. */
  readonly maxLiveOriginsPerKey: number
  readonly clock: Clock
  readonly logger: Logger
}

/**
 * The newest notice per key (persisted next to the node's data), the base derived from them,
 * and this node's own notices, issued when it learns of origins of its key that are not live.
 */
export class RetiredOrigins {
  private readonly notices = new Map<string, HeldNotice>()
  private current: RetiredBase = { digests: {}, retired: new Map() }
  /** Per key, origins held or taken here that its newest notice neither lists live nor retired. */
  private readonly unlisted = new Map<string, Set<string>>()
  private readonly listeners = new Set<(notice: SignedNotice) => void>()
  private writes: Promise<void> = Promise.resolve()
  /** Per key, the newest notice taken and not yet handed to the keeper (what its write writes). */
  private readonly unwritten = new Map<string, Uint8Array>()
  /** Retired origins of this node's key its last notice had no room for. */
  private leftOut: ReadonlySet<string> = new Set()

  constructor(private readonly components: RetiredOriginsComponents) {}

  /** The base now (a new object whenever a notice changes it). */
  get snapshot(): RetiredBase {
    return this.current
  }

  /** Whether a notice of `key` is held. */
  holds(key: string): boolean {
    return this.notices.has(key)
  }

  /** Every notice held, to pass on to a peer. */
  all(): SignedNotice[] {
    return [...this.notices.values()].map((held) => held.signed)
  }

  /**
   * The notices a peer whose hello named `bases` holds otherwise or not at all (those of keys
   * it does not accept too, each session: it passes them over).
   */
  lackedBy(bases: Readonly<Record<string, string>> | undefined): SignedNotice[] {
    const { digests } = this.current
    return this.all().filter(
      ({ notice: { key } }) =>
        (bases && Object.hasOwn(bases, key) ? bases[key] : undefined) !== digests[key],
    )
  }

  /** Calls `listener` with every newer notice taken from now on; returns the unsubscribe. */
  subscribe(listener: (notice: SignedNotice) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Reads the notices kept (those of keys no longer accepted are left aside), each checked again. */
  async load(): Promise<void> {
    const { keeper, logger } = this.components
    for (const { key, bytes } of await keeper.load()) {
      if (!this.components.accepts(key)) continue
      const opened = openNotice(key, bytes.subarray(64), bytes.subarray(0, 64))
      if (typeof opened === 'string') {
        logger.warn('a kept retirement notice is unreadable; ignored', { key, reason: opened })
        continue
      }
      const held = this.notices.get(key)
      if (!held || held.signed.notice.issuedAt < opened.notice.issuedAt) this.hold(opened)
    }
    this.rebase()
  }

  /** Waits for the notices taken so far to be written. */
  flushed(): Promise<void> {
    return this.writes
  }

  /**
   * Takes a notice a peer sent: checked (key accepted, signature, counts, each origin naming
   * the key) and kept when it is newer than the one held for its key.
   */
  receive(key: string, body: Uint8Array, sig: Uint8Array): NoticeReceipt {
    if (!this.components.accepts(key)) return { kind: 'foreign' }
    const held = this.notices.get(key)
    const opened = openNotice(key, body, sig)
    if (typeof opened === 'string') return { kind: 'refused', reason: opened }
    if (held && opened.notice.issuedAt <= held.signed.notice.issuedAt) return { kind: 'stale' }
    this.take(opened)
    return { kind: 'newer' }
  }

  /**
   * Issues this node's notice when it differs from the one held for its key: `live` (its own
   * origin, and a geo's members') and every other origin of its key in `known` or in the
   * notice held before, retired at the highest seq known. Returns whether one was issued.
   */
  issue(live: readonly string[], known: Readonly<VersionVector>): boolean {
    const { key, privateKey, clock } = this.components
    const liveSet = new Set(live.filter((o) => originPeerId(o) === key).slice(0, MAX_NOTICE_LIVE))
    const held = this.notices.get(key)
    const retired = new Map<string, number>()
    for (const [origin, seq] of held?.retired ?? [])
      if (!liveSet.has(origin)) retired.set(origin, seq)
    let changed = !held || !sameSet(held.live, liveSet) || retired.size !== held.retired.size
    for (const [origin, seq] of Object.entries(known)) {
      if (liveSet.has(origin) || originPeerId(origin) !== key) continue
      const before = retired.get(origin)
      // An origin the last notice had no room for is no change (or it would be issued again
      // and again).
      if (before === undefined && !this.leftOut.has(origin)) changed = true
      if (before === undefined || seq > before) retired.set(origin, seq)
    }
    if (!changed) return false
    const issuedAt = Math.max(clock.now(), (held?.signed.notice.issuedAt ?? -1) + 1)
    const signed = signNotice(
      { key, issuedAt, live: [...liveSet], retired: [...retired] },
      privateKey,
    )
    const kept = new Set(signed.notice.retired.map(([origin]) => origin))
    this.leftOut = new Set([...retired.keys()].filter((origin) => !kept.has(origin)))
    if (this.leftOut.size > 0)
      this.components.logger.warn(
        'a retirement notice has no room for every retired origin: those left out stay in every hello',
        { leftOut: this.leftOut.size, retired: kept.size },
      )
    this.take(signed)
    return true
  }

  /**
   * Whether events under `origin` may be taken: always when this geo holds some already or
   * its key's newest notice lists it; otherwise only while its key has fewer than
   * `maxLiveOriginsPerKey` unlisted origins here (then it counts as one).
   */
  admits(origin: string, known: Readonly<VersionVector>): boolean {
    if (known[origin] !== undefined) return true
    const key = originPeerId(origin)
    if (key === undefined) return true // unsigned: the verifier refuses it
    const held = this.notices.get(key)
    if (held && (held.live.has(origin) || held.retired.has(origin))) return true
    let set = this.unlisted.get(key)
    if (set?.has(origin)) return true
    if ((set?.size ?? 0) >= this.components.maxLiveOriginsPerKey) return false
    if (!set) this.unlisted.set(key, (set = new Set()))
    set.add(origin)
    return true
  }

  /** Counts the unlisted origins among those this geo holds (call once the store's vector is known). */
  track(known: Readonly<VersionVector>): void {
    for (const origin of Object.keys(known)) {
      const key = originPeerId(origin)
      if (key === undefined) continue
      const held = this.notices.get(key)
      if (held && (held.live.has(origin) || held.retired.has(origin))) continue
      let set = this.unlisted.get(key)
      if (!set) this.unlisted.set(key, (set = new Set()))
      set.add(origin)
    }
  }

  /** Unlisted origins of `key` counted against the bound. */
  unlistedOf(key: string): number {
    return this.unlisted.get(key)?.size ?? 0
  }

  private take(signed: SignedNotice): void {
    const held = this.hold(signed)
    const set = this.unlisted.get(signed.notice.key)
    if (set)
      for (const origin of set)
        if (held.live.has(origin) || held.retired.has(origin)) set.delete(origin)
    this.rebase()
    const { keeper, logger } = this.components
    const bytes = new Uint8Array(64 + signed.body.byteLength)
    bytes.set(signed.sig, 0)
    bytes.set(signed.body, 64)
    // One write waits per key, and writes the newest notice taken by then: a peer that sends
    // notices faster than the disk keeps them holds one of them in memory, not all.
    const { key } = signed.notice
    const queued = this.unwritten.has(key)
    this.unwritten.set(key, bytes)
    if (!queued)
      this.writes = this.writes
        .then(() => {
          const newest = this.unwritten.get(key)!
          this.unwritten.delete(key)
          return keeper.keep(key, newest)
        })
        .catch((error: unknown) =>
          logger.warn('could not keep a retirement notice (it is taken again from a peer)', {
            error,
          }),
        )
    for (const listener of this.listeners) listener(signed)
  }

  private hold(signed: SignedNotice): HeldNotice {
    const held: HeldNotice = {
      signed,
      digest: noticeDigest(signed.body),
      live: new Set(signed.notice.live),
      retired: new Map(signed.notice.retired),
    }
    this.notices.set(signed.notice.key, held)
    return held
  }

  private rebase(): void {
    const digests: Record<string, string> = {}
    const retired = new Map<string, ReadonlyMap<string, number>>()
    for (const [key, held] of this.notices) {
      digests[key] = held.digest
      retired.set(key, held.retired)
    }
    this.current = { digests, retired }
  }
}

/**
 * The keys whose notice `theirs` (a hello's `bases`) names with the same digest as `base`:
 * the notices both sides hold alike.
 */
export function sharedKeys(
  base: RetiredBase,
  theirs: Readonly<Record<string, string>> | undefined,
): string[] {
  if (!theirs) return []
  return Object.keys(base.digests).filter(
    (key) => Object.hasOwn(theirs, key) && theirs[key] === base.digests[key],
  )
}

/**
 * The hello's vector against the notices of `keys`: only the origins whose seq here differs
 * from the seq they retire it at (0: none here).
 */
export function compactVector(
  vector: Readonly<VersionVector>,
  base: RetiredBase,
  keys: readonly string[],
): VersionVector {
  const explicit: VersionVector = { ...vector }
  for (const key of keys)
    for (const [origin, seq] of base.retired.get(key) ?? []) {
      const here = vector[origin]
      if (here === seq) delete explicit[origin]
      else if (here === undefined) explicit[origin] = 0
    }
  return explicit
}

/** A compacted vector read back against the notices of the same `keys`. */
export function expandVector(
  explicit: Readonly<VersionVector>,
  base: RetiredBase,
  keys: readonly string[],
): VersionVector {
  const vector: VersionVector = {}
  for (const key of keys)
    for (const [origin, seq] of base.retired.get(key) ?? []) vector[origin] = seq
  for (const [origin, seq] of Object.entries(explicit))
    if (origin === '__proto__') continue
    else if (seq === 0) delete vector[origin]
    else vector[origin] = seq
  return vector
}

/**
 * Keeps each notice as `<dir>/<PeerId>.notice` (signature then body), written durably. A
 * kept file that cannot be a notice (not a regular file, larger than a notice, unreadable)
 * is left aside with a warning: notices are taken again from peers.
 */
export function fileNoticeKeeper(dir: string, logger?: Logger): NoticeKeeper {
  return {
    async load() {
      await makeDirectory(dir)
      const kept: { key: string; bytes: Uint8Array }[] = []
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.notice')) continue
        const file = join(dir, name)
        const bytes = await readKeptNotice(file)
        if (typeof bytes === 'string')
          logger?.warn('a kept retirement notice is unreadable; ignored', { file, reason: bytes })
        else kept.push({ key: name.slice(0, -'.notice'.length), bytes })
      }
      return kept
    },
    async keep(key, bytes) {
      await makeDirectory(dir)
      await writeFileDurably(join(dir, `${key}.notice`), bytes)
    },
  }
}

/** Most bytes of a kept notice: its signature and the largest body. */
const MAX_KEPT_NOTICE_BYTES = 64 + MAX_NOTICE_BYTES

/** A kept notice's bytes, or why the file cannot hold one (read only when it can). */
async function readKeptNotice(file: string): Promise<Uint8Array | string> {
  try {
    return await readSmallFile(file, MAX_KEPT_NOTICE_BYTES)
  } catch (error) {
    return (error as Error).message
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false
  for (const item of a) if (!b.has(item)) return false
  return true
}
