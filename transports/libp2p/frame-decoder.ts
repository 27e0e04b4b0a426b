// Splitting a fabric stream into frame bodies: a 4-byte big-endian length, then the body.
import { FrameError, PayloadTooLargeError, tooLargeMessage } from '../../core/index.js'

/** Bytes of the big-endian length that precedes every frame. */
export const FRAME_HEADER_BYTES = 4

/**
 * Largest frame body accepted or sent (msgpack bytes, without the header). It must carry
 * one event of the largest payload core accepts at emit (`MAX_EVENT_PAYLOAD_BYTES`, 1 Mi
 * JSON characters), which msgpack makes up to 3 times larger: a character from U+0800 on
 * is one JSON character and 3 UTF-8 bytes (`0.5` is 3 characters and a 9-byte float).
 */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

/**
 * Splits a byte stream into frame bodies. It checks lengths before it buffers (a header
 * over the limit throws at once) and copies only when a frame spans several chunks.
 */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = []
  /** Read offset into `chunks[0]`. */
  private offset = 0
  private buffered = 0
  /** Body length of the frame being assembled, or -1 while its header is incomplete. */
  private expected = -1

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** Adds received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
  }

  /**
   * The next complete frame body, or undefined until more bytes arrive.
   * Throws `PayloadTooLargeError` for a declared length over the limit, `FrameError` for an empty frame.
   */
  next(): Uint8Array | undefined {
    if (this.expected < 0) {
      if (this.buffered < FRAME_HEADER_BYTES) return undefined
      const header = this.take(FRAME_HEADER_BYTES)
      const length = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0)
      if (length > this.maxFrameBytes)
        throw new PayloadTooLargeError(tooLargeMessage('fabric frame', length, this.maxFrameBytes))
      if (length === 0) throw new FrameError('a fabric frame declared an empty body')
      this.expected = length
    }
    if (this.buffered < this.expected) return undefined
    const body = this.take(this.expected)
    this.expected = -1
    return body
  }

  private take(count: number): Uint8Array {
    const first = this.chunks[0]!
    const available = first.byteLength - this.offset
    if (available >= count) {
      const view = first.subarray(this.offset, this.offset + count)
      this.consume(count)
      return view
    }
    const out = new Uint8Array(count)
    let filled = 0
    while (filled < count) {
      const chunk = this.chunks[0]!
      const n = Math.min(count - filled, chunk.byteLength - this.offset)
      out.set(chunk.subarray(this.offset, this.offset + n), filled)
      filled += n
      this.consume(n)
    }
    return out
  }

  private consume(count: number): void {
    this.buffered -= count
    this.offset += count
    if (this.offset === this.chunks[0]!.byteLength) {
      this.chunks.shift()
      this.offset = 0
    }
  }
}
