// The memory store's events, kept compactly: each event's type and payload as msgpack bytes
// in large shared chunks, its key (HLC, origin, seq) and its actor in typed columns, and the
// per-origin and per-actor orders as arrays of event numbers. A million stored events are a
// few typed arrays and byte chunks rather than millions of objects the collector walks on
// every major GC: what held the gateway back on the memory store.
import type { EventKey, EventRecord } from '../../core/index.js'
import type { EventSig } from '../../core/index.js'
import { hasValueFields, readUserValue, valueCodec } from '../../support/value-codec.js'

/** Bytes per chunk of encoded events; an event larger than this gets a chunk of its own. */
const CHUNK_BYTES = 1 << 20
/** Rows the columns start with; they double when full. */
const INITIAL_ROWS = 1 << 10
/** Fields of an event's encoded bytes: [type, payload]. */
const ENCODED_FIELDS = 2
const PAYLOAD_AT = 1
/** Deepest nesting stored (the fabric's sealing encoder allows the same). */
const MAX_ENCODED_DEPTH = 1_000

/** A growable column of numbers. */
class Column<A extends Float64Array | Uint32Array> {
  constructor(
    public values: A,
    private readonly make: (length: number) => A,
  ) {}

  set(row: number, value: number): void {
    if (row >= this.values.length) {
      const grown = this.make(Math.max(this.values.length * 2, row + 1))
      grown.set(this.values)
      this.values = grown
    }
    this.values[row] = value
  }
}

const floats = () => new Column(new Float64Array(INITIAL_ROWS), (n) => new Float64Array(n))
const uints = () => new Column(new Uint32Array(INITIAL_ROWS), (n) => new Uint32Array(n))

/** The actors and origins events refer to, each interned once. */
interface ActorName {
  readonly actorType: string
  readonly actorId: string
}

/**
 * Events by number (0, 1, 2, ... in the order they were stored). `add` stores one and
 * returns its number; `record` decodes one; `compare` orders one against a key without
 * decoding it.
 */
export class EventColumns {
  /**
   * Deep enough for any event a store may be handed: core refuses to emit a payload deeper
   * than 32 levels, but an event replicated from an older geo may nest deeper, and the memory
   * store kept any depth when it held objects.
   */
  private readonly codec = valueCodec({ maxDepth: MAX_ENCODED_DEPTH })
  private readonly chunks: Buffer[] = []
  private chunkUsed = CHUNK_BYTES
  private rows = 0
  private readonly wall = floats()
  private readonly logical = floats()
  private readonly seq = floats()
  private readonly origin = uints()
  private readonly actor = uints()
  private readonly chunk = uints()
  private readonly offset = uints()
  private readonly length = uints()
  private readonly origins: string[] = []
  private readonly originIds = new Map<string, number>()
  private readonly actors: ActorName[] = []
  /** The signatures of the events that carry one (the last of each signed chunk: few). */
  private readonly sigs = new Map<number, EventSig>()

  /** Stores `record` under actor number `actorNo` (from `actorNumber`); returns the event's number. */
  add(record: EventRecord, actorNo: number): number {
    const bytes = this.codec.encodeFields(
      [record.type, record.payload],
      PAYLOAD_AT,
      'an event payload',
    )
    const row = this.rows
    this.place(row, bytes)
    this.wall.set(row, record.hlc.wall)
    this.logical.set(row, record.hlc.logical)
    this.seq.set(row, record.seq)
    this.origin.set(row, this.originNumber(record.origin))
    this.actor.set(row, actorNo)
    if (record.sig) this.sigs.set(row, { from: record.sig.from, bytes: record.sig.bytes.slice() })
    this.rows++
    return row
  }

  /** The number of an actor, given on first sight. */
  actorNumber(actorType: string, actorId: string): number {
    this.actors.push({ actorType, actorId })
    return this.actors.length - 1
  }

  /** The event numbered `row`, decoded. */
  record(row: number): EventRecord {
    const chunk = this.chunks[this.chunk.values[row]!]!
    const start = this.offset.values[row]!
    const fields = this.codec.decode(
      chunk.subarray(start, start + this.length.values[row]!),
    ) as unknown[]
    if (!hasValueFields(fields, ENCODED_FIELDS))
      throw new Error(`memory store: event ${row} does not decode to its fields`)
    const { actorType, actorId } = this.actors[this.actor.values[row]!]!
    const sig = this.sigs.get(row)
    return {
      actorType,
      actorId,
      origin: this.origins[this.origin.values[row]!]!,
      seq: this.seq.values[row]!,
      hlc: { wall: this.wall.values[row]!, logical: this.logical.values[row]! },
      type: fields[0] as string,
      payload: readUserValue(fields, ENCODED_FIELDS, PAYLOAD_AT),
      ...(sig ? { sig: { from: sig.from, bytes: sig.bytes.slice() } } : {}),
    }
  }

  /** The merge order of event `row` against `key` (as `compareEventKeys(event, key)`). */
  compare(row: number, key: EventKey): number {
    const wall = this.wall.values[row]!
    if (wall !== key.hlc.wall) return wall < key.hlc.wall ? -1 : 1
    const logical = this.logical.values[row]!
    if (logical !== key.hlc.logical) return logical < key.hlc.logical ? -1 : 1
    const origin = this.origins[this.origin.values[row]!]!
    if (origin !== key.origin) return origin < key.origin ? -1 : 1
    return this.seq.values[row]! - key.seq
  }

  /** The merge order of events `a` and `b`. */
  compareRows(a: number, b: number): number {
    return this.compare(a, this.keyOf(b))
  }

  /** The key of event `row`. */
  keyOf(row: number): EventKey {
    return {
      hlc: { wall: this.wall.values[row]!, logical: this.logical.values[row]! },
      origin: this.origins[this.origin.values[row]!]!,
      seq: this.seq.values[row]!,
    }
  }

  /** Copies `bytes` (the codec's shared buffer) into the current chunk, or a new one. */
  private place(row: number, bytes: Uint8Array): void {
    if (this.chunkUsed + bytes.length > CHUNK_BYTES) {
      this.chunks.push(Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes.length)))
      this.chunkUsed = 0
    }
    const chunkNo = this.chunks.length - 1
    this.chunks[chunkNo]!.set(bytes, this.chunkUsed)
    this.chunk.set(row, chunkNo)
    this.offset.set(row, this.chunkUsed)
    this.length.set(row, bytes.length)
    this.chunkUsed += bytes.length
  }

  private originNumber(origin: string): number {
    let id = this.originIds.get(origin)
    if (id === undefined) {
      id = this.origins.length
      this.origins.push(origin)
      this.originIds.set(origin, id)
    }
    return id
  }
}
