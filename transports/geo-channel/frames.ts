// The channel between the nodes of one geo: length-prefixed frames on one kept-alive TCP
// connection per member, on a listener of its own that is never the public gateway. Each call
// is one ask, tell or read of an actor the receiving node owns; the receiver serves it there
// or refuses it (NotOwnerError), never forwards it again.
//
// Why frames on TCP and not HTTP or libp2p: these calls never leave the geo (one network, no
// Noise handshake needed), and the hop is most of what a forwarded request costs. HTTP/1.1
// (undici pools, node:http) paid one write and one read per call on each side, and the
// parsing of a request and an answer; measured, a request through a non-owner served 48% of
// the owner's requests/s. Frames carry a call id, so many calls share one connection, and the
// calls (and the answers) made within one turn of the event loop leave in one write. The
// geo's secret is checked once per connection (its first frame), not once per call. Errors
// keep their class by name across the hop. The nodes' HTTP gateways never carry these calls.
//
//   frame   = length (u32, bytes after it) ‖ call id (u32) ‖ kind (u8) ‖ JSON body
//   kinds   : HELLO (client's first frame: { secret }), ASK, TELL, READ (a call), OK, ERROR (an answer)
//
// server.ts serves calls, client.ts makes them; this file holds what both use.

/** Largest body a call between nodes may carry (the gateway's own default limit). */
export const MAX_GEO_CALL_BYTES = 1024 * 1024
/** Largest first frame (the hello) of a connection not yet authenticated. */
export const MAX_HELLO_BYTES = 4 * 1024
/** The frame's header after its length: call id (u32) and kind (u8). */
const HEADER_BYTES = 5
/** The bytes of a frame that are not its body: its length (u32) and its header. */
export const FRAME_OVERHEAD_BYTES = 4 + HEADER_BYTES

/** What a frame is. */
export const FrameKind = {
  HELLO: 1,
  ASK: 2,
  TELL: 3,
  READ: 4,
  OK: 10,
  ERROR: 11,
} as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

/** One frame, whole, ready to write. */
export function encodeFrame(id: number, kind: FrameKind, body: unknown): Buffer {
  const text = JSON.stringify(body)
  const length = Buffer.byteLength(text)
  const frame = Buffer.allocUnsafe(4 + HEADER_BYTES + length)
  frame.writeUInt32BE(HEADER_BYTES + length, 0)
  frame.writeUInt32BE(id, 4)
  frame[8] = kind
  frame.write(text, 4 + HEADER_BYTES, 'utf8')
  return frame
}

/** A decoded frame; `body` is the JSON text's bytes, parsed by whoever knows its schema. */
export interface Frame {
  id: number
  kind: number
  body: Buffer
}

/** Thrown by FrameReader when a frame declares more bytes than allowed. */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError'
}

/**
 * Splits a byte stream into frames. `maxBody` is read before each frame (a connection raises
 * it once authenticated); a frame over it is refused before its bytes are buffered.
 */
export class FrameReader {
  private pending: Buffer | undefined

  constructor(public maxBody: number) {}

  /** The whole frames in `chunk` (with what was left of the one before); the rest is kept. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = undefined
    let offset = 0
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset)
      if (length < HEADER_BYTES || length - HEADER_BYTES > this.maxBody)
        throw new FrameTooLargeError(
          `a frame of ${length} bytes (at most ${this.maxBody} bytes of body here)`,
        )
      if (buffer.length - offset < 4 + length) break
      const start = offset + 4
      onFrame({
        id: buffer.readUInt32BE(start),
        kind: buffer[start + 4]!,
        body: buffer.subarray(start + HEADER_BYTES, start + length),
      })
      offset = start + length
    }
    // A partial frame is kept whole: its declared length was checked above once 4 bytes came.
    if (offset < buffer.length) this.pending = buffer.subarray(offset)
  }
}

/**
 * Gathers the frames written within one turn of the event loop into one socket write: under
 * load many calls (or answers) share a syscall instead of paying one each.
 */
export class FrameBatcher {
  private frames: Buffer[] = []
  private scheduled = false
  private gathered = 0

  constructor(private readonly write: (bytes: Buffer) => void) {}

  /** Bytes gathered and not yet written. */
  get bytes(): number {
    return this.gathered
  }

  push(frame: Buffer): void {
    this.frames.push(frame)
    this.gathered += frame.length
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.flush)
  }

  /** Writes what is gathered now. */
  readonly flush = (): void => {
    this.scheduled = false
    const frames = this.frames
    if (frames.length === 0) return
    this.frames = []
    this.gathered = 0
    this.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames))
  }
}
