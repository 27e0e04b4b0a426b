import type { FileHandle } from 'node:fs/promises'
import { StoreCorruptError } from '../../core/index.js'
import { crc32, crc32Range } from './crc32.js'

// On-disk layout of a segment file (all integers little-endian unless noted). Segments are
// numbered from 1, one file each (`segmentName`), and none may be missing.
//
//   segment := commit*
//   commit  := magic "AWC1" (4 bytes) | bodyLength u32 | bodyCrc u32 | headerCrc u32 | body
//   body    := record+
//   record  := crc u32 | length u32 | msgpack bytes (`length` of them)
//
// A commit is what one group-commit write puts on disk, durable before the next. `headerCrc`
// covers the first 12 header bytes, so a damaged length is never trusted; `bodyCrc`
// covers the body. Each record carries its own crc (over its length field and its bytes,
// which sit next to each other) so a single record can be read and checked at its offset
// without reading its commit. All checksums are CRC-32.

/** Bytes of a commit header. */
export const COMMIT_HEADER_BYTES = 16
/** Bytes in front of each record's msgpack body. */
export const RECORD_HEADER_BYTES = 8
/** Largest commit body accepted when reading (a larger length means a damaged header). */
export const MAX_COMMIT_BODY_BYTES = 256 * 1024 * 1024
/** Largest single record (one event or snapshot). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024

const COMMIT_MAGIC = Buffer.from('AWC1', 'latin1')
/** How much of a segment the recovery scan reads at a time. */
const SCAN_CHUNK_BYTES = 1024 * 1024

const SEGMENT_NAME = /^segment-(\d{12})\.log$/

/** The file name of segment number `n` (`segment-000000000001.log`, ...). */
export function segmentName(n: number): string {
  return `segment-${String(n).padStart(12, '0')}.log`
}

/** The number of the segment a file name names, or undefined for any other file. */
export function segmentNumber(fileName: string): number | undefined {
  const digits = SEGMENT_NAME.exec(fileName)?.[1]
  return digits === undefined ? undefined : Number(digits)
}

/** Writes the frame of one record (crc, length, body) into `target` at `at`; returns its length. */
export function writeRecordFrame(target: Buffer, at: number, body: Uint8Array): number {
  target.writeUInt32LE(body.length, at + 4)
  target.set(body, at + RECORD_HEADER_BYTES)
  const end = at + RECORD_HEADER_BYTES + body.length
  target.writeUInt32LE(crc32Range(target, at + 4, end), at)
  return end - at
}

/** Frames one record into a buffer of its own. */
export function frameRecord(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(RECORD_HEADER_BYTES + body.length)
  writeRecordFrame(frame, 0, body)
  return frame
}

/**
 * Fills in the header of a commit whose body follows it in `commit`: the first
 * `COMMIT_HEADER_BYTES` are the header, the next `bodyLength` the records.
 */
export function writeCommitHeader(commit: Buffer, bodyLength: number): void {
  COMMIT_MAGIC.copy(commit, 0)
  commit.writeUInt32LE(bodyLength, 4)
  const body = commit.subarray(COMMIT_HEADER_BYTES, COMMIT_HEADER_BYTES + bodyLength)
  commit.writeUInt32LE(crc32(body), 8)
  commit.writeUInt32LE(crc32(commit.subarray(0, 12)), 12)
}

/** One commit of these record frames, header included (for tools, tests and benchmarks). */
export function buildCommit(frames: readonly Uint8Array[]): Buffer {
  let bodyLength = 0
  for (const frame of frames) bodyLength += frame.length
  const commit = Buffer.allocUnsafe(COMMIT_HEADER_BYTES + bodyLength)
  let at = COMMIT_HEADER_BYTES
  for (const frame of frames) {
    commit.set(frame, at)
    at += frame.length
  }
  writeCommitHeader(commit, bodyLength)
  return commit
}

/**
 * The msgpack body of a framed record read back from disk, after checking its length and
 * crc. Returns a string saying what is wrong when the frame does not check out.
 */
export function unframeRecord(frame: Uint8Array): Uint8Array | string {
  if (frame.length < RECORD_HEADER_BYTES) return 'record shorter than its header'
  if (readUInt32LE(frame, 4) !== frame.length - RECORD_HEADER_BYTES)
    return 'record length does not match'
  const problem = checkRecordFrame(frame, 0, frame.length)
  return typeof problem === 'string' ? problem : frame.subarray(RECORD_HEADER_BYTES)
}

/**
 * Checks the record frame at `at` of `bytes` (a commit's body, which ends at `end`): its
 * length field and its crc. Returns the frame's length, or a string saying what is wrong.
 * Makes no view of the bytes (a segment scan checks millions of records).
 */
function checkRecordFrame(bytes: Uint8Array, at: number, end: number): number | string {
  if (at + RECORD_HEADER_BYTES > end) return 'record runs past its commit'
  const frameLength = RECORD_HEADER_BYTES + readUInt32LE(bytes, at + 4)
  if (at + frameLength > end) return 'record runs past its commit'
  if (readUInt32LE(bytes, at) !== crc32Range(bytes, at + 4, at + frameLength))
    return 'record checksum mismatch'
  return frameLength
}

function readUInt32LE(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
  )
}

/** Where a record sits: its segment, the byte offset of its frame, the frame's length. */
export interface RecordLocation {
  readonly segment: number
  readonly offset: number
  readonly length: number
}

/** The end of a scanned segment and, when the last commit was torn, where it began. */
export interface ScanResult {
  /** Offset just after the last intact commit. */
  readonly end: number
  /** Set when a torn last commit was found at `end`: how many bytes follow `end`. */
  readonly tornBytes?: number
}

export interface ScanOptions {
  readonly handle: FileHandle
  /** The segment's path, for error messages. */
  readonly file: string
  readonly size: number
  readonly from: number
  /**
   * True for the newest segment: only there may a torn last commit be found (a crash
   * mid-write). Everywhere else any damage is corruption.
   */
  readonly isLast: boolean
  /** Called for every record of every intact commit, in file order. */
  readonly onRecord?: (body: Uint8Array, offset: number, frameLength: number) => void
  /**
   * Called for every record as `onRecord`, with no view made: the record's frame starts at
   * `at` of `bytes` (its body `RECORD_HEADER_BYTES` later), valid only during the call.
   */
  readonly onFrame?: (bytes: Uint8Array, at: number, offset: number, frameLength: number) => void
}

/**
 * Checks every commit of a segment from `from` on and hands each record to `onRecord`.
 *
 * Only one commit is ever unsynced (the next write starts once the previous is durable), so
 * a crash can only damage the final commit of the newest segment. A damaged commit there
 * counts as torn when it is that final commit: its header is incomplete, or its intact
 * header says it reaches the end of the file, or everything from it to the end of the
 * file is zeros (an extent the crash left unwritten). Any other damage throws
 * `StoreCorruptError` naming the file and the commit's byte offset.
 */
export async function scanSegment(options: ScanOptions): Promise<ScanResult> {
  const { file, size, isLast, onRecord, onFrame } = options
  const reader = new ChunkReader(options.handle, size)
  let pos = options.from
  while (pos < size) {
    const remaining = size - pos
    if (remaining < COMMIT_HEADER_BYTES) return damaged(pos, 'an incomplete commit header', true)
    const header = await reader.read(pos, COMMIT_HEADER_BYTES)
    const bodyLength = header.readUInt32LE(4)
    const headerOk =
      header.subarray(0, 4).equals(COMMIT_MAGIC) &&
      header.readUInt32LE(12) === crc32(header.subarray(0, 12)) &&
      bodyLength >= RECORD_HEADER_BYTES &&
      bodyLength <= MAX_COMMIT_BODY_BYTES
    if (!headerOk) return damaged(pos, 'a damaged commit header', await reader.allZero(pos))
    const end = pos + COMMIT_HEADER_BYTES + bodyLength
    if (end > size) return damaged(pos, 'an incomplete commit', true)
    const body = await reader.read(pos + COMMIT_HEADER_BYTES, bodyLength)
    if (crc32(body) !== header.readUInt32LE(8))
      return damaged(pos, 'a commit checksum mismatch', end === size)
    // The commit checks out: its records must too, or the writer itself was broken.
    let at = 0
    while (at < body.length) {
      const frameLength = checkRecordFrame(body, at, body.length)
      const offset = pos + COMMIT_HEADER_BYTES + at
      if (typeof frameLength === 'string') throw corrupt(file, offset, frameLength)
      onFrame?.(body, at, offset, frameLength)
      onRecord?.(body.subarray(at + RECORD_HEADER_BYTES, at + frameLength), offset, frameLength)
      at += frameLength
    }
    pos = end
  }
  return { end: pos }

  function damaged(offset: number, what: string, tornShape: boolean): ScanResult {
    if (isLast && tornShape) return { end: offset, tornBytes: size - offset }
    throw corrupt(file, offset, what)
  }
}

/** The error for damaged data at `offset` of `file`. */
export function corrupt(
  file: string,
  offset: number,
  what: string,
  cause?: unknown,
): StoreCorruptError {
  return new StoreCorruptError(
    `store file ${file} is corrupt: ${what} at byte offset ${offset}. The store refuses to ` +
      `start rather than skip data: restore the data dir from a backup, or replace it with ` +
      `an empty one and let the node catch up from the other geos.`,
    cause === undefined ? { file, offset } : { file, offset, cause },
  )
}

/** Reads a file front to back in large chunks so a scan of small commits stays cheap. */
class ChunkReader {
  private chunk = Buffer.alloc(0)
  private chunkStart = 0

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  /** `length` bytes at `position` (a view, valid until the next call). */
  async read(position: number, length: number): Promise<Buffer> {
    const chunkEnd = this.chunkStart + this.chunk.length
    if (position < this.chunkStart || position + length > chunkEnd) {
      const want = Math.min(Math.max(length, SCAN_CHUNK_BYTES), this.size - position)
      const buffer = Buffer.allocUnsafe(want)
      let filled = 0
      while (filled < want) {
        const { bytesRead } = await this.handle.read(
          buffer,
          filled,
          want - filled,
          position + filled,
        )
        if (bytesRead === 0) break
        filled += bytesRead
      }
      this.chunk = buffer.subarray(0, filled)
      this.chunkStart = position
      if (filled < length) throw new Error(`file shrank while it was scanned (at ${position})`)
    }
    const start = position - this.chunkStart
    return this.chunk.subarray(start, start + length)
  }

  /** True when every byte from `position` to the end of the file is zero. */
  async allZero(position: number): Promise<boolean> {
    for (let at = position; at < this.size; at += SCAN_CHUNK_BYTES) {
      const bytes = await this.read(at, Math.min(SCAN_CHUNK_BYTES, this.size - at))
      for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
    }
    return true
  }
}
