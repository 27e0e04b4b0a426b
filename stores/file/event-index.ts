import type { EventKey, VersionVector } from '../../core/index.js'
import { ActorGids, type ActorListing } from './actor-gids.js'
import type { RecordLocation } from './segment-format.js'

// What the file store keeps in memory: for every event its merge key and where its record
// is (never its payload), in columns of typed arrays indexed by a store-local event number
// (`gid`, the order in which events became durable). Per origin, the gids in seq order;
// per actor (by its number, see actor-gids.ts), the gids in merge order and the location of
// its snapshot. About 40 bytes an event plus under 100 bytes an actor.

export type { ActorListing } from './actor-gids.js'

const INITIAL_CAPACITY = 1024
/**
 * Past this many slots, columns grow by a quarter rather than double: at 10M events a
 * doubling would add 320 MB of columns for the first event after a reopen (the checkpoint
 * loads them at their exact size). Still geometric, so an add stays O(1) amortized.
 */
const DOUBLE_UP_TO = 1 << 20

/** The next capacity of a full column of `capacity` slots. */
function grown(capacity: number): number {
  return capacity < DOUBLE_UP_TO ? capacity * 2 : capacity + (capacity >>> 2)
}

/** The persisted snapshot of an actor: where it is and what it claims to cover. */
export interface SnapshotRef extends RecordLocation {
  readonly at: EventKey
  readonly eventCount: number
}

/** Where the index stops: the end of the last commit it covers. */
export interface LogPosition {
  readonly segment: number
  readonly offset: number
}

/** The identity and merge key of an event being indexed. */
export interface IndexedEvent extends EventKey {
  readonly actorType: string
  readonly actorId: string
}

/** The columns of an index, one slot per event (by gid). */
export interface IndexColumns {
  readonly segments: Uint32Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  readonly walls: Float64Array
  readonly logicals: Uint32Array
  readonly originNos: Uint32Array
  readonly seqs: Uint32Array
}

/** Everything an index holds, as plain data (see `EventIndex.contents`). */
export interface IndexContents {
  readonly count: number
  readonly columns: IndexColumns
  /** Origin names by their number (`columns.originNos`). */
  readonly origins: readonly string[]
  readonly actors: ActorListing
  /** The snapshot of each actor that has one, by the actor's number in `actors`. */
  readonly snapshots: ReadonlyMap<number, SnapshotRef>
}

/**
 * The file store's in-memory index of every durable event (see the top of this file).
 * Events are added in the order they became durable, each the next seq of its origin.
 */
export class EventIndex {
  /** How many events are indexed (the next gid). */
  count = 0
  private capacity = 0
  private segments: Uint32Array = new Uint32Array(0)
  private offsets: Uint32Array = new Uint32Array(0)
  private lengths: Uint32Array = new Uint32Array(0)
  private walls: Float64Array = new Float64Array(0)
  private logicals: Uint32Array = new Uint32Array(0)
  private originNos: Uint32Array = new Uint32Array(0)
  private seqs: Uint32Array = new Uint32Array(0)
  private readonly origins: string[] = []
  private readonly originNoByName = new Map<string, number>()
  private readonly originGids: Uint32Array[] = []
  private readonly originCounts: number[] = []
  private actors = new ActorGids()
  /** Each actor's current snapshot, by actor number. */
  private snapshots = new Map<number, SnapshotRef>()
  /** `compare` bound once, for the actor lists' inserts. */
  private readonly order = (a: number, b: number) => this.compare(a, b)

  constructor() {
    this.grow(INITIAL_CAPACITY)
  }

  /** How many events of `origin` are indexed (its highest seq: seqs have no gaps). */
  originCount(origin: string): number {
    const no = this.originNoByName.get(origin)
    return no === undefined ? 0 : this.originCounts[no]!
  }

  /** Indexes an event whose seq is `originCount(origin) + 1`; returns its gid. */
  add(event: IndexedEvent, segment: number, offset: number, length: number): number {
    const gid = this.count
    if (gid === this.capacity) this.grow(grown(this.capacity))
    const originNo = this.originNo(event.origin)
    this.segments[gid] = segment
    this.offsets[gid] = offset
    this.lengths[gid] = length
    this.walls[gid] = event.hlc.wall
    this.logicals[gid] = event.hlc.logical
    this.originNos[gid] = originNo
    this.seqs[gid] = event.seq
    this.count++
    this.pushOriginGid(originNo, gid)
    const actor = this.actors.findOrAdd(event.actorType, event.actorId)
    this.actors.insert(actor, gid, this.order)
    if (this.snapshots.size > 0) {
      const snapshot = this.snapshots.get(actor)
      if (snapshot && this.compareToKey(gid, snapshot.at) < 0) this.snapshots.delete(actor)
    }
    return gid
  }

  /**
   * Points the actor at a new snapshot if it counts exactly the actor's events up to its
   * key (otherwise it was folded before an event that has since arrived). Returns whether it did.
   */
  setSnapshot(actorType: string, actorId: string, ref: SnapshotRef): boolean {
    if (this.countUpTo(this.actor(actorType, actorId), ref.at) !== ref.eventCount) return false
    this.snapshots.set(this.actors.findOrAdd(actorType, actorId), ref)
    return true
  }

  /** The actor's number, if it has events or a snapshot. */
  actor(actorType: string, actorId: string): number | undefined {
    return this.actors.find(actorType, actorId)
  }

  /** The actor's gids in merge order, from its `from`-th event on. */
  actorGids(actor: number, from = 0): number[] {
    return this.actors.gids(actor, from)
  }

  /** The actor's current snapshot, if it has one. */
  snapshotOf(actor: number | undefined): SnapshotRef | undefined {
    return actor === undefined ? undefined : this.snapshots.get(actor)
  }

  /** Forgets the actor's snapshot (it no longer counts, or does not decode). */
  dropSnapshot(actor: number): void {
    this.snapshots.delete(actor)
  }

  /** How many of the actor's events sort at or before `key`. */
  countUpTo(actor: number | undefined, key: EventKey): number {
    if (actor === undefined) return 0
    let lo = 0
    let hi = this.actors.length(actor)
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compareToKey(this.actors.gidAt(actor, mid), key) <= 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The gids of one origin's events `fromSeq` on, at most `limit`. */
  originRange(origin: string, fromSeq: number, limit: number): number[] {
    const no = this.originNoByName.get(origin)
    if (no === undefined || limit <= 0) return []
    const start = Math.max(0, fromSeq - 1)
    const end = Math.min(this.originCounts[no]!, start + limit)
    return start < end ? Array.from(this.originGids[no]!.subarray(start, end)) : []
  }

  /** Where an event's record is. */
  location(gid: number): RecordLocation {
    return { segment: this.segments[gid]!, offset: this.offsets[gid]!, length: this.lengths[gid]! }
  }

  /** Whether event `gid` is indexed at this location (false past the last event). */
  isAt(gid: number, segment: number, offset: number, length: number): boolean {
    return (
      gid < this.count &&
      this.segments[gid] === segment &&
      this.offsets[gid] === offset &&
      this.lengths[gid] === length
    )
  }

  /** The origin and seq of an event (to check a record read back is the one expected). */
  identity(gid: number): { origin: string; seq: number } {
    return { origin: this.origins[this.originNos[gid]!]!, seq: this.seqs[gid]! }
  }

  /** Whether `gid` is this event: its merge key, and one of its actor's events. */
  holds(gid: number, event: IndexedEvent): boolean {
    if (gid >= this.count || this.compareToKey(gid, event) !== 0) return false
    const actor = this.actors.find(event.actorType, event.actorId)
    if (actor === undefined) return false
    const at = this.countUpTo(actor, event)
    return at > 0 && this.actors.gidAt(actor, at - 1) === gid
  }

  /** For each origin with events, its highest seq. */
  versionVector(): VersionVector {
    const vector: VersionVector = {}
    this.origins.forEach((origin, no) => {
      if (this.originCounts[no]! > 0) vector[origin] = this.originCounts[no]!
    })
    return vector
  }

  /** Merge order of two indexed events. */
  compare(a: number, b: number): number {
    return (
      this.walls[a]! - this.walls[b]! ||
      this.logicals[a]! - this.logicals[b]! ||
      compareStrings(this.origins[this.originNos[a]!]!, this.origins[this.originNos[b]!]!) ||
      this.seqs[a]! - this.seqs[b]!
    )
  }

  /** Merge order of an indexed event against a key. */
  compareToKey(gid: number, key: EventKey): number {
    return (
      this.walls[gid]! - key.hlc.wall ||
      this.logicals[gid]! - key.hlc.logical ||
      compareStrings(this.origins[this.originNos[gid]!]!, key.origin) ||
      this.seqs[gid]! - key.seq
    )
  }

  /**
   * What the index holds, for the checkpoint (index-checkpoint.ts): views of its columns,
   * `count` long (valid until the next `add`), its origins by number and its actors, grouped
   * by type in the order the types first appeared.
   */
  contents(): IndexContents {
    const n = this.count
    return {
      count: n,
      columns: {
        segments: this.segments.subarray(0, n),
        offsets: this.offsets.subarray(0, n),
        lengths: this.lengths.subarray(0, n),
        walls: this.walls.subarray(0, n),
        logicals: this.logicals.subarray(0, n),
        originNos: this.originNos.subarray(0, n),
        seqs: this.seqs.subarray(0, n),
      },
      origins: this.origins,
      actors: this.actors.listing(),
      snapshots: this.snapshots,
    }
  }

  /**
   * Rebuilds an index from `contents()`. Throws when they are not a consistent index (an
   * origin's seqs out of order, an actor naming an unknown event, events and actors that do
   * not add up): the caller then ignores the checkpoint and replays the segments instead.
   * With `adoptColumns` the index keeps the columns and the actors' gids themselves rather
   * than copies (they must be exactly `count` long and nobody else's: a checkpoint just decoded).
   */
  static fromContents(contents: IndexContents, adoptColumns = false): EventIndex {
    const { count: n, columns, origins, actors } = contents
    const index = new EventIndex()
    if (adoptColumns) {
      for (const column of Object.values(columns) as Array<Uint32Array | Float64Array>)
        if (column.length !== n) throw new Error('a column has the wrong length')
      index.segments = columns.segments
      index.offsets = columns.offsets
      index.lengths = columns.lengths
      index.walls = columns.walls
      index.logicals = columns.logicals
      index.originNos = columns.originNos
      index.seqs = columns.seqs
      index.capacity = n
    } else {
      index.grow(Math.max(INITIAL_CAPACITY, n))
      index.segments.set(columns.segments.subarray(0, n))
      index.offsets.set(columns.offsets.subarray(0, n))
      index.lengths.set(columns.lengths.subarray(0, n))
      index.walls.set(columns.walls.subarray(0, n))
      index.logicals.set(columns.logicals.subarray(0, n))
      index.originNos.set(columns.originNos.subarray(0, n))
      index.seqs.set(columns.seqs.subarray(0, n))
    }
    for (const origin of origins) index.originNo(origin)
    for (let gid = 0; gid < n; gid++) {
      const no = index.originNos[gid]!
      if (no >= origins.length || index.seqs[gid] !== index.originCounts[no]! + 1)
        throw new Error(`event ${gid} breaks its origin's seq order`)
      index.pushOriginGid(no, gid)
    }
    index.count = n
    // The listing's gids become the actors' pool: copied unless the columns are adopted.
    index.actors = ActorGids.fromListing(
      adoptColumns ? actors : { ...actors, gids: actors.gids.slice() },
      n,
    )
    for (const [actor, snapshot] of contents.snapshots) {
      if (actor >= index.actors.size) throw new Error(`a snapshot names an unknown actor ${actor}`)
      index.snapshots.set(actor, snapshot)
    }
    return index
  }

  private originNo(origin: string): number {
    let no = this.originNoByName.get(origin)
    if (no === undefined) {
      no = this.origins.length
      this.origins.push(origin)
      this.originNoByName.set(origin, no)
      this.originGids.push(new Uint32Array(INITIAL_CAPACITY))
      this.originCounts.push(0)
    }
    return no
  }

  private pushOriginGid(no: number, gid: number): void {
    const count = this.originCounts[no]!
    let gids = this.originGids[no]!
    if (count === gids.length) {
      const bigger = new Uint32Array(grown(gids.length))
      bigger.set(gids)
      this.originGids[no] = gids = bigger
    }
    gids[count] = gid
    this.originCounts[no] = count + 1
  }

  private grow(capacity: number): void {
    const n = this.count
    const resize = <T extends Uint32Array | Float64Array>(old: T, make: (size: number) => T): T => {
      const next = make(capacity)
      next.set(old.subarray(0, n))
      return next
    }
    this.segments = resize(this.segments, (s) => new Uint32Array(s))
    this.offsets = resize(this.offsets, (s) => new Uint32Array(s))
    this.lengths = resize(this.lengths, (s) => new Uint32Array(s))
    this.walls = resize(this.walls, (s) => new Float64Array(s))
    this.logicals = resize(this.logicals, (s) => new Uint32Array(s))
    this.originNos = resize(this.originNos, (s) => new Uint32Array(s))
    this.seqs = resize(this.seqs, (s) => new Uint32Array(s))
    this.capacity = capacity
  }
}

function compareStrings(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1
}
