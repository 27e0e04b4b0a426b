// A cheap pass over a frame's msgpack bytes before anything is decoded: counts and depth
// are read from the headers, so a hostile frame is refused before it costs memory or time.
import { FrameError } from '../../core/index.js'

/** The limits a frame body is scanned against. */
export interface FrameScanLimits {
  /** Most entries of any map or elements of any array, anywhere in the frame. */
  readonly maxContainerEntries: number
  /** Deepest value: the root is level 1, its entries level 2, and so on (as msgpack's encoder counts). */
  readonly maxDepth: number
  /** Most entries of the root map's `vector` map (hello, ack). */
  readonly maxVectorEntries: number
  /** Most elements of the root map's `events` array. */
  readonly maxEvents: number
  /** Most entries of each element of `events`, which must be a map (an event record). */
  readonly maxEventFields: number
}

/** What a msgpack type byte starts: a value to skip, bytes to skip, or a container to enter. */
const Kind = { Scalar: 0, Str: 1, Bin: 2, Ext: 3, Array: 4, Map: 5 } as const
type Kind = (typeof Kind)[keyof typeof Kind]

/** `vector` and `events` as UTF-8: the root keys whose values have their own count limits. */
const VECTOR_KEY = [0x76, 0x65, 0x63, 0x74, 0x6f, 0x72]
const EVENTS_KEY = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x73]

/**
 * Walks the msgpack structure of `body` without building any value, and throws `FrameError`
 * when a map or array declares more entries than the limits allow, when values nest deeper
 * than `maxDepth`, when a length runs past the end of the body, or when the body holds
 * bytes after its one root value or a byte msgpack never uses. Its cost is one pass over
 * the value headers (string, binary and extension contents are skipped, not read), with
 * no allocation that grows with the input.
 */
export function scanFrame(body: Uint8Array, limits: FrameScanLimits): void {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const end = body.byteLength
  // Per open container: values still to read, and whether it is a map (keys and values alternate).
  const remaining = new Float64Array(limits.maxDepth + 1)
  const isMap = new Uint8Array(limits.maxDepth + 1)
  let level = 0 // open containers
  let pos = 0
  /** The root map's value about to be read is `vector` (1) or `events` (2). */
  let rootKey = 0
  /** The level of the open `events` array (0 when none is open): its elements must be small maps. */
  let eventsLevel = 0
  let done = false

  const fail = (reason: string): never => {
    throw new FrameError(`a fabric frame was refused before decoding: ${reason}`)
  }
  const need = (bytes: number) => {
    if (pos + bytes > end) fail(`truncated at byte ${pos} (${bytes} more needed of ${end})`)
  }

  while (!done) {
    need(1)
    const valueLevel = level + 1
    if (valueLevel > limits.maxDepth) fail(`nested deeper than ${limits.maxDepth} levels`)
    // Which root entry this value is: a key of the root map, or the value after a named key.
    const atRoot = level === 1 && isMap[1] === 1
    const isRootKey = atRoot && remaining[1]! % 2 === 0
    const valueOf = atRoot && !isRootKey ? rootKey : 0
    const byte = body[pos++]!
    let kind: Kind = Kind.Scalar
    let count = 0
    if (byte <= 0x7f || byte >= 0xe0 || byte === 0xc0 || byte === 0xc2 || byte === 0xc3) {
      // fixint, nil, false, true
    } else if (byte <= 0x8f) {
      kind = Kind.Map
      count = byte & 0x0f
    } else if (byte <= 0x9f) {
      kind = Kind.Array
      count = byte & 0x0f
    } else if (byte <= 0xbf) {
      kind = Kind.Str
      count = byte & 0x1f
    } else {
      switch (byte) {
        case 0xc4:
        case 0xc5:
        case 0xc6:
          kind = Kind.Bin
          count = readLength(byte - 0xc4)
          break
        case 0xc7:
        case 0xc8:
        case 0xc9:
          kind = Kind.Ext
          count = readLength(byte - 0xc7) + 1
          break
        case 0xca:
          skip(4)
          break
        case 0xcb:
          skip(8)
          break
        case 0xcc:
        case 0xd0:
          skip(1)
          break
        case 0xcd:
        case 0xd1:
          skip(2)
          break
        case 0xce:
        case 0xd2:
          skip(4)
          break
        case 0xcf:
        case 0xd3:
          skip(8)
          break
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          skip(1 + (1 << (byte - 0xd4)))
          break
        case 0xd9:
        case 0xda:
        case 0xdb:
          kind = Kind.Str
          count = readLength(byte - 0xd9)
          break
        case 0xdc:
        case 0xdd:
          kind = Kind.Array
          count = readLength(byte - 0xdc + 1)
          break
        case 0xde:
        case 0xdf:
          kind = Kind.Map
          count = readLength(byte - 0xde + 1)
          break
        default:
          fail(`byte 0x${byte.toString(16)} at ${pos - 1} is not msgpack`)
      }
    }

    if (
      eventsLevel > 0 &&
      level === eventsLevel &&
      !(kind === Kind.Map && count <= limits.maxEventFields)
    )
      fail(
        `an element of events that is not an event record (a map of at most ${limits.maxEventFields} fields)`,
      )
    if (kind === Kind.Str && isRootKey) rootKey = namedRootKey(count)
    if (kind === Kind.Str || kind === Kind.Bin || kind === Kind.Ext) skip(count)
    else if (kind === Kind.Array || kind === Kind.Map) checkCount(kind, count, valueOf)

    // This value is read: count it off its container, closing every container it completes.
    if (level > 0) remaining[level]!--
    if ((kind === Kind.Array || kind === Kind.Map) && count > 0) {
      level++
      remaining[level] = kind === Kind.Map ? count * 2 : count
      isMap[level] = kind === Kind.Map ? 1 : 0
      if (valueOf === 2) eventsLevel = level
    }
    while (level > 0 && remaining[level] === 0) level--
    if (level < eventsLevel) eventsLevel = 0
    if (level === 0) done = true
  }
  if (pos !== end) fail(`${end - pos} bytes after the frame's value`)

  function readLength(sizeLog2: number): number {
    const bytes = 1 << sizeLog2
    need(bytes)
    const length =
      bytes === 1 ? view.getUint8(pos) : bytes === 2 ? view.getUint16(pos) : view.getUint32(pos)
    pos += bytes
    return length
  }

  function skip(bytes: number): void {
    need(bytes)
    pos += bytes
  }

  function namedRootKey(length: number): number {
    if (length !== 6) return 0
    need(6)
    if (VECTOR_KEY.every((b, i) => body[pos + i] === b)) return 1
    if (EVENTS_KEY.every((b, i) => body[pos + i] === b)) return 2
    return 0
  }

  function checkCount(kind: Kind, count: number, valueOf: number): void {
    const what = kind === Kind.Map ? 'map' : 'array'
    if (valueOf === 1 && count > limits.maxVectorEntries)
      fail(`a version vector of ${count} origins (at most ${limits.maxVectorEntries})`)
    if (valueOf === 2 && count > limits.maxEvents)
      fail(`an events array of ${count} events (at most ${limits.maxEvents})`)
    if (count > limits.maxContainerEntries)
      fail(`a ${what} of ${count} entries (at most ${limits.maxContainerEntries})`)
    // Every entry takes at least one byte: a count the rest of the body cannot hold is a lie.
    if (count * (kind === Kind.Map ? 2 : 1) > end - pos)
      fail(`a ${what} declares ${count} entries in ${end - pos} remaining bytes`)
  }
}
