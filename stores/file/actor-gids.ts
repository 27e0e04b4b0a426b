// The file store's per-actor event lists: for each actor (numbered in the order it was
// first seen) its gids in merge order. They live in one shared pool of typed arrays, each
// actor a run of slots in it, rather than as an object and an array per actor: at a million
// actors that is about 150 bytes an actor less, and a checkpoint loads them without
// building a million arrays (it hands over its gids as the pool itself).

/** Slots an actor's first run gets in the pool; it doubles when full. */
const FIRST_ROOM = 2
const INITIAL_ACTORS = 1024
const INITIAL_POOL = 4096

/**
 * Every actor of an index, flat (as the checkpoint stores them): actor `i` is of type
 * `types[typeNos[i]]` with id `ids[i]`, and its `gidCounts[i]` gids, in merge order, follow
 * the previous actor's in `gids`.
 */
export interface ActorListing {
  readonly types: readonly string[]
  readonly typeNos: Uint32Array
  readonly ids: readonly string[]
  readonly gidCounts: Uint32Array
  readonly gids: Uint32Array
}

/** Compares two gids in merge order. */
export type GidOrder = (a: number, b: number) => number

/** The actors of an index and each one's gids in merge order (see the top of this file). */
export class ActorGids {
  /** Actor numbers by type, then id. */
  private readonly numbers = new Map<string, Map<string, number>>()
  private readonly types: string[] = []
  private readonly ids: string[] = []
  private typeNos: Uint32Array = new Uint32Array(INITIAL_ACTORS)
  /** Where each actor's run starts in `pool`, how many gids it holds, how many slots it has. */
  private starts: Uint32Array = new Uint32Array(INITIAL_ACTORS)
  private lengths: Uint32Array = new Uint32Array(INITIAL_ACTORS)
  private rooms: Uint32Array = new Uint32Array(INITIAL_ACTORS)
  private pool: Uint32Array = new Uint32Array(INITIAL_POOL)
  /** Slots of `pool` handed out so far (runs and the holes moved runs left behind). */
  private poolUsed = 0
  /** Slots of `pool` left behind by runs that moved. */
  private holes = 0

  /** How many actors there are. */
  get size(): number {
    return this.ids.length
  }

  /** The number of an actor, if it is known. */
  find(actorType: string, actorId: string): number | undefined {
    return this.numbers.get(actorType)?.get(actorId)
  }

  /** The number of an actor, numbering it (with no gids yet) when it is new. */
  findOrAdd(actorType: string, actorId: string): number {
    let byId = this.numbers.get(actorType)
    if (!byId) {
      this.numbers.set(actorType, (byId = new Map<string, number>()))
      this.types.push(actorType)
    }
    let actor = byId.get(actorId)
    if (actor === undefined) {
      actor = this.ids.length
      byId.set(actorId, actor)
      this.append(this.typeNoOf(actorType), actorId, 0, 0)
    }
    return actor
  }

  /** How many gids an actor has. */
  length(actor: number): number {
    return this.lengths[actor]!
  }

  /** The actor's `i`-th gid in merge order. */
  gidAt(actor: number, i: number): number {
    return this.pool[this.starts[actor]! + i]!
  }

  /** The actor's gids from the `from`-th on, in merge order. */
  gids(actor: number, from = 0): number[] {
    const start = this.starts[actor]!
    return Array.from(this.pool.subarray(start + from, start + this.lengths[actor]!))
  }

  /** Puts `gid` into the actor's gids at its place in `order` (after the last is the common case). */
  insert(actor: number, gid: number, order: GidOrder): void {
    const length = this.lengths[actor]!
    if (length === this.rooms[actor]!) this.move(actor, Math.max(FIRST_ROOM, length * 2))
    const start = this.starts[actor]!
    const pool = this.pool
    if (length === 0 || order(pool[start + length - 1]!, gid) < 0) {
      pool[start + length] = gid
    } else {
      let lo = 0
      let hi = length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (order(pool[start + mid]!, gid) <= 0) lo = mid + 1
        else hi = mid
      }
      pool.copyWithin(start + lo + 1, start + lo, start + length)
      pool[start + lo] = gid
    }
    this.lengths[actor] = length + 1
  }

  /** Every actor and its gids, flat, in actor order (the gids a copy; the rest views valid until the next change). */
  listing(): ActorListing {
    const n = this.size
    const gidCounts = this.lengths.subarray(0, n)
    let total = 0
    for (let a = 0; a < n; a++) total += gidCounts[a]!
    const gids = new Uint32Array(total)
    const { pool, starts } = this
    let at = 0
    for (let a = 0; a < n; a++) {
      const start = starts[a]!
      const length = gidCounts[a]!
      for (let k = 0; k < length; k++) gids[at + k] = pool[start + k]!
      at += length
    }
    return {
      types: this.types,
      typeNos: this.typeNos.subarray(0, n),
      ids: this.ids,
      gidCounts,
      gids,
    }
  }

  /**
   * The actors of a listing, numbered in its order. Its `gids` become the pool itself (so
   * they must be nobody else's). Throws when it is not consistent: columns of different
   * lengths, a type or id that is not a string, an actor listed twice, a gid not below
   * `events`, counts that do not add up to `events`.
   */
  static fromListing(listing: ActorListing, events: number): ActorGids {
    const { types, typeNos, ids, gidCounts, gids } = listing
    const n = ids.length
    if (typeNos.length !== n || gidCounts.length !== n)
      throw new Error('the actor listing has columns of different lengths')
    const actors = new ActorGids()
    const byTypeNo = types.map((type) => {
      if (typeof type !== 'string') throw new Error('an actor type is not a string')
      if (actors.numbers.has(type)) throw new Error(`actor type ${type} is listed twice`)
      const byId = new Map<string, number>()
      actors.numbers.set(type, byId)
      actors.types.push(type)
      return byId
    })
    actors.reserve(n)
    let at = 0
    for (let a = 0; a < n; a++) {
      const actorId = ids[a]
      const byId = byTypeNo[typeNos[a]!]
      const count = gidCounts[a]!
      if (typeof actorId !== 'string' || !byId) throw new Error(`actor ${a} is not a valid entry`)
      const before = byId.size
      byId.set(actorId, a)
      if (byId.size === before) throw new Error(`actor ${a} is listed twice`)
      actors.append(typeNos[a]!, actorId, at, count)
      at += count
    }
    if (at !== events || gids.length !== events) throw new Error('events and actors do not add up')
    for (let i = 0; i < events; i++)
      if (gids[i]! >= events) throw new Error(`an actor names an unknown event (${gids[i]})`)
    actors.pool = gids
    actors.poolUsed = events
    return actors
  }

  private typeNoOf(actorType: string): number {
    // Few types: a scan is cheaper than another map.
    return this.types.indexOf(actorType)
  }

  /** Adds actor number `size` with a run of `length` gids (and as many slots) at `start`. */
  private append(typeNo: number, actorId: string, start: number, length: number): void {
    const actor = this.ids.length
    if (actor === this.typeNos.length) this.reserve(actor * 2)
    this.ids.push(actorId)
    this.typeNos[actor] = typeNo
    this.starts[actor] = start
    this.lengths[actor] = length
    this.rooms[actor] = length
  }

  /** Makes room in the actor columns for `capacity` actors. */
  private reserve(capacity: number): void {
    if (capacity <= this.typeNos.length) return
    const resize = (old: Uint32Array) => {
      const next = new Uint32Array(capacity)
      next.set(old.subarray(0, this.ids.length))
      return next
    }
    this.typeNos = resize(this.typeNos)
    this.starts = resize(this.starts)
    this.lengths = resize(this.lengths)
    this.rooms = resize(this.rooms)
  }

  /** Moves an actor's run to the end of the pool with `room` slots. */
  private move(actor: number, room: number): void {
    this.makeRoom(room)
    const start = this.starts[actor]!
    this.pool.copyWithin(this.poolUsed, start, start + this.lengths[actor]!)
    this.holes += this.rooms[actor]!
    this.starts[actor] = this.poolUsed
    this.rooms[actor] = room
    this.poolUsed += room
  }

  /**
   * Makes sure `slots` more fit at the end of the pool: when they do not, the runs are
   * copied into a new pool half as large again as they are, without the holes (each copy is
   * O(pool) and leaves as many free slots as half the runs hold: O(1) amortized per slot).
   */
  private makeRoom(slots: number): void {
    if (this.poolUsed + slots <= this.pool.length) return
    const live = this.poolUsed - this.holes
    const next = new Uint32Array(Math.max(INITIAL_POOL, Math.ceil((live + slots) * 1.5)))
    const { pool, starts, lengths, rooms } = this
    let at = 0
    for (let a = 0; a < this.ids.length; a++) {
      const start = starts[a]!
      const length = lengths[a]!
      for (let k = 0; k < length; k++) next[at + k] = pool[start + k]!
      starts[a] = at
      at += rooms[a]!
    }
    this.pool = next
    this.poolUsed = at
    this.holes = 0
  }
}
