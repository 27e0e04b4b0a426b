// A cheap pass over a frame's msgpack bytes before anything is decoded: counts and depth
// are read from the headers, so a hostile frame is refused before it costs memory or time.
import { FrameError } from '../../core/index.js'

/** The limits a frame body is scanned against. */
export interface FrameScanLimits {
  /** Most entries of any map or elements of any array, anywhere in the frame. */
  readonly maxContainerEntries: number
  /** Deepest value: the root is level 1, its entries level 2, and so on (as msgpack's encoder counts). */
  readonly maxDepth: number
  /** Most entries of the root map's `vector` map (hello, ack) and of its `bases` map (hello). */
  readonly maxVectorEntries: number
  /** Most elements of the root map's `events` array (and of its `sigs` array). */
  readonly maxEvents: number
  /** Elements of each element of `events`, which must be an array of exactly this many (an event's wire form). */
  readonly eventFields: number
}

/** What a msgpack type byte starts: a value to skip, bytes to skip, or a container to enter. */
const Kind = { Scalar: 0, Str: 1, Bin: 2, Ext: 3, Array: 4, Map: 5 } as const
type Kind = (typeof Kind)[keyof typeof Kind]

/** `vector` and `events` as UTF-8: the root keys whose values have their own count limits. */
const EMPTY = new Uint8Array(0)
/** Bytes after the type byte of 0xca..0xd3: float32, float64, uint8..64, int8..64. */
const SCALAR_BYTES = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8]
const VECTOR_KEY = [0x76, 0x65, 0x63, 0x74, 0x6f, 0x72]
const EVENTS_KEY = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x73]
const SIGS_KEY = [0x73, 0x69, 0x67, 0x73]
/** `bases` (a hello's notice digests per key): bounded as a vector is. */
const BASES_KEY = [0x62, 0x61, 0x73, 0x65, 0x73]

/**
 * Walks the msgpack structure of a frame body without building any value, and throws
 * `FrameError` when a map or array declares more entries than the limits allow, when values
 * nest deeper than `maxDepth`, when a length runs past the end of the body, or when the body
 * holds bytes after its one root value or a byte msgpack never uses. Its cost is one pass
 * over the value headers (string, binary and extension contents are skipped, not read); its
 * memory is two arrays of `maxDepth` entries, allocated once. Not reentrant: `scan` is
 * synchronous, so one scanner serves every stream of a process.
 */
export class FrameScanner {
  /** Per open container: values still to read. */
  private readonly remaining: Float64Array
  /** Per open container: 1 for a map (keys and values alternate), 0 for an array. */
  private readonly isMap: Uint8Array
  private body: Uint8Array = EMPTY
  private end = 0

  constructor(private readonly limits: FrameScanLimits) {
    this.remaining = new Float64Array(limits.maxDepth + 2)
    this.isMap = new Uint8Array(limits.maxDepth + 2)
  }

  /**
   * Throws `FrameError` when `body` breaks a limit; returns when it is safe to decode, with
   * where each element of the root `events` array begins, and where the last one ends (the
   * events' wire bytes, which their signatures cover; empty when the frame has none).
   */
  scan(body: Uint8Array): number[] {
    this.body = body
    this.end = body.byteLength
    try {
      return this.walk()
    } finally {
      this.body = EMPTY // the scanner keeps no frame alive
    }
  }

  private walk(): number[] {
    const bounds: number[] = []
    const { limits, remaining, isMap, body, end } = this
    const maxDepth = limits.maxDepth
    let pos = 0
    let level = 0 // open containers
    /** The root map's value about to be read is `vector` (1) or `events` (2). */
    let rootKey = 0
    /** The level of the open `events` array (0 when none is open): its elements must be small maps. */
    let eventsLevel = 0
    for (;;) {
      if (pos >= end) this.truncated(pos, 1)
      if (level > 0 && level === eventsLevel) bounds.push(pos)
      const byte = body[pos++]!
      let kind: Kind = Kind.Scalar
      let count = 0
      /** Bytes after the type byte: skipped (scalars), or a length to read. */
      let skip = 0
      let lengthBytes = 0
      if (byte <= 0x7f || byte >= 0xe0) {
        // fixint
      } else if (byte <= 0x8f) {
        kind = Kind.Map
        count = byte & 0x0f
      } else if (byte <= 0x9f) {
        kind = Kind.Array
        count = byte & 0x0f
      } else if (byte <= 0xbf) {
        kind = Kind.Str
        count = byte & 0x1f
      } else if (byte === 0xc0 || byte === 0xc2 || byte === 0xc3) {
        // nil, false, true
      } else if (byte >= 0xc4 && byte <= 0xc6) {
        kind = Kind.Bin
        lengthBytes = 1 << (byte - 0xc4)
      } else if (byte >= 0xc7 && byte <= 0xc9) {
        kind = Kind.Ext
        lengthBytes = 1 << (byte - 0xc7)
      } else if (byte >= 0xca && byte <= 0xd3) {
        skip = SCALAR_BYTES[byte - 0xca]!
      } else if (byte >= 0xd4 && byte <= 0xd8) {
        skip = 1 + (1 << (byte - 0xd4))
      } else if (byte >= 0xd9 && byte <= 0xdb) {
        kind = Kind.Str
        lengthBytes = 1 << (byte - 0xd9)
      } else if (byte === 0xdc || byte === 0xdd) {
        kind = Kind.Array
        lengthBytes = 2 << (byte - 0xdc)
      } else if (byte === 0xde || byte === 0xdf) {
        kind = Kind.Map
        lengthBytes = 2 << (byte - 0xde)
      } else this.fail(`byte 0x${byte.toString(16)} at ${pos - 1} is not msgpack`)
      if (lengthBytes > 0) {
        if (pos + lengthBytes > end) this.truncated(pos, lengthBytes)
        count =
          lengthBytes === 1
            ? body[pos]!
            : lengthBytes === 2
              ? (body[pos]! << 8) | body[pos + 1]!
              : body[pos]! * 0x1000000 +
                ((body[pos + 1]! << 16) | (body[pos + 2]! << 8) | body[pos + 3]!)
        pos += lengthBytes
        if (kind === Kind.Ext) count += 1 // its type byte
      }

      if (kind === Kind.Array || kind === Kind.Map) {
        // The container is at level + 1, its entries at level + 2 (the encoder counts scalars too).
        if (level + (count > 0 ? 2 : 1) > maxDepth)
          this.fail(`nested deeper than ${maxDepth} levels`)
        const valueOf = level === 1 && isMap[1] === 1 && remaining[1]! % 2 === 1 ? rootKey : 0
        if (count > limits.maxContainerEntries || valueOf !== 0)
          this.checkCount(kind, count, valueOf)
        // Every entry takes at least one byte: a count the rest of the body cannot hold is a lie.
        if (count * (kind === Kind.Map ? 2 : 1) > end - pos)
          this.fail(`a container declares ${count} entries in ${end - pos} remaining bytes`)
        if (level > 0 && level === eventsLevel)
          if (kind !== Kind.Array || count !== limits.eventFields) this.notAnEvent()
        if (level > 0) remaining[level]!--
        if (count > 0) {
          level++
          remaining[level] = kind === Kind.Map ? count * 2 : count
          isMap[level] = kind === Kind.Map ? 1 : 0
          if (valueOf === 2) eventsLevel = level
          continue
        }
      } else {
        if (level > 0 && level === eventsLevel) this.notAnEvent()
        if (kind === Kind.Scalar) {
          if (pos + skip > end) this.truncated(pos, skip)
          pos += skip
        } else {
          if (pos + count > end) this.truncated(pos, count)
          // A key of the root map: `vector` and `events` name values with limits of their own.
          if (kind === Kind.Str && level === 1 && isMap[1] === 1 && remaining[1]! % 2 === 0)
            rootKey = this.namedRootKey(pos, count)
          pos += count
        }
        if (level > 0) remaining[level]!--
      }
      // This value is read: close every container it completes.
      while (level > 0 && remaining[level] === 0) level--
      if (level < eventsLevel) {
        eventsLevel = 0
        bounds.push(pos)
      }
      if (level === 0) break
    }
    if (pos !== end) this.fail(`${end - pos} bytes after the frame's value`)
    return bounds
  }

  private namedRootKey(pos: number, length: number): number {
    const { body } = this
    if (length === 4) return SIGS_KEY.every((b, i) => body[pos + i] === b) ? 3 : 0
    if (length === 5) return BASES_KEY.every((b, i) => body[pos + i] === b) ? 1 : 0
    if (length !== 6) return 0
    if (VECTOR_KEY.every((b, i) => body[pos + i] === b)) return 1
    if (EVENTS_KEY.every((b, i) => body[pos + i] === b)) return 2
    return 0
  }

  private checkCount(kind: Kind, count: number, valueOf: number): void {
    const { limits } = this
    const what = kind === Kind.Map ? 'map' : 'array'
    if (valueOf === 1 && count > limits.maxVectorEntries)
      this.fail(`a version vector of ${count} origins (at most ${limits.maxVectorEntries})`)
    if (valueOf === 2 && count > limits.maxEvents)
      this.fail(`an events array of ${count} events (at most ${limits.maxEvents})`)
    if (valueOf === 3 && count > limits.maxEvents)
      this.fail(`a sigs array of ${count} signatures (at most ${limits.maxEvents})`)
    if (count > limits.maxContainerEntries)
      this.fail(`a ${what} of ${count} entries (at most ${limits.maxContainerEntries})`)
  }

  private notAnEvent(): never {
    return this.fail(
      `an element of events that is not an event (an array of ${this.limits.eventFields} fields)`,
    )
  }

  private truncated(pos: number, bytes: number): never {
    return this.fail(`truncated at byte ${pos} (${bytes} more needed of ${this.end})`)
  }

  private fail(reason: string): never {
    throw new FrameError(`a fabric frame was refused before decoding: ${reason}`)
  }
}
