// Reading records back from the segments: a small pool of open segment files, reads of
// records that sit close together merged into one, every record checked against its own
// checksum as it is decoded.
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { NotRunningError, type Logger, notRunningMessage } from '../../core/index.js'
import { decodeRecordBody, type StoredRecord } from './record-codec.js'
import { corrupt, segmentName, unframeRecord, type RecordLocation } from './segment-format.js'

/** Records closer than this on disk are read with one read call. */
const READ_GAP_BYTES = 64 * 1024
/** Largest single read when reading many records at once. */
const MAX_READ_BYTES = 4 * 1024 * 1024
/** How many reads one `readRecords` call has in flight at a time. */
const READ_PARALLELISM = 8
/** Segment files kept open for reading. */
const MAX_OPEN_SEGMENTS = 32

interface OpenSegment {
  readonly handle: Promise<FileHandle>
  users: number
}

/**
 * Reads records from the segments of one data dir. Segment files stay open for reading;
 * past a limit, the least recently used idle one is closed.
 */
export class SegmentReader {
  private readonly open = new Map<number, OpenSegment>()
  private closed = false

  constructor(private readonly dir: string) {}

  /** The path of segment number `segment`. */
  path(segment: number): string {
    return join(this.dir, segmentName(segment))
  }

  /** `length` bytes at `position` of a segment (fewer only if the file is shorter). */
  async read(segment: number, position: number, length: number): Promise<Buffer> {
    // Once closed, a read would open a file that nothing closes (and after the lock is gone).
    if (this.closed) throw new NotRunningError(notRunningMessage('the file store'))
    const entry = this.acquire(segment)
    try {
      const handle = await entry.handle
      const buffer = Buffer.allocUnsafe(length)
      let filled = 0
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return buffer.subarray(0, filled)
    } finally {
      entry.users--
      this.evict()
    }
  }

  /**
   * The records at these locations, in the same order, each checked and decoded. Reads of
   * records close together in a segment are merged, a few reads in flight at a time.
   * Throws `StoreCorruptError` for a record that does not check out.
   */
  async readRecords(locations: readonly RecordLocation[]): Promise<StoredRecord[]> {
    const records = new Array<StoredRecord>(locations.length)
    const runs = planReads(locations)
    for (let i = 0; i < runs.length; i += READ_PARALLELISM) {
      await Promise.all(
        runs.slice(i, i + READ_PARALLELISM).map(async (run) => {
          const bytes = await this.read(run.segment, run.start, run.end - run.start)
          for (const { slot, location } of run.items) {
            const at = location.offset - run.start
            records[slot] = this.decode(bytes.subarray(at, at + location.length), location)
          }
        }),
      )
    }
    return records
  }

  /** Checks and decodes a record's frame read from `location`; throws `StoreCorruptError`. */
  decode(frame: Uint8Array, location: RecordLocation): StoredRecord {
    const file = this.path(location.segment)
    const body = frame.length === location.length ? unframeRecord(frame) : 'a short read'
    if (typeof body === 'string') throw corrupt(file, location.offset, body)
    try {
      return decodeRecordBody(body)
    } catch (error) {
      throw corrupt(
        file,
        location.offset,
        `an undecodable record (${(error as Error).message})`,
        error,
      )
    }
  }

  /** Closes every segment; later reads are refused. */
  async closeAll(): Promise<void> {
    this.closed = true
    const entries = [...this.open.values()]
    this.open.clear()
    await Promise.allSettled(entries.map(async (entry) => (await entry.handle).close()))
  }

  private acquire(segment: number): OpenSegment {
    let entry = this.open.get(segment)
    if (entry) {
      this.open.delete(segment) // re-inserted below: most recently used last
    } else {
      const handle = open(this.path(segment), 'r')
      handle.catch(() => this.open.delete(segment))
      entry = { handle, users: 0 }
    }
    entry.users++
    this.open.set(segment, entry)
    this.evict()
    return entry
  }

  private evict(): void {
    if (this.open.size <= MAX_OPEN_SEGMENTS) return
    for (const [segment, entry] of this.open) {
      if (this.open.size <= MAX_OPEN_SEGMENTS) break
      if (entry.users > 0) continue
      this.open.delete(segment)
      void entry.handle.then((h) => h.close()).catch(() => {})
    }
  }
}

/**
 * Logs that a snapshot record was skipped: snapshots are derived data, so one that does not
 * decode costs its actor a fold of its events, never a refused start or read.
 */
export function warnSkippedSnapshot(
  logger: Logger,
  file: string,
  offset: number,
  error: unknown,
): void {
  logger.warn('skipping a snapshot that does not decode; its actor folds its events instead', {
    file,
    offset,
    reason: error instanceof Error ? error.message : String(error),
  })
}

interface ReadRun {
  segment: number
  start: number
  end: number
  items: Array<{ slot: number; location: RecordLocation }>
}

/** Groups record reads that sit close together in one segment into single reads. */
function planReads(locations: readonly RecordLocation[]): ReadRun[] {
  const sorted = locations
    .map((location, slot) => ({ slot, location }))
    .sort(
      (a, b) => a.location.segment - b.location.segment || a.location.offset - b.location.offset,
    )
  const runs: ReadRun[] = []
  let run: ReadRun | undefined
  for (const item of sorted) {
    const { segment, offset, length } = item.location
    if (
      run &&
      run.segment === segment &&
      offset - run.end <= READ_GAP_BYTES &&
      offset + length - run.start <= MAX_READ_BYTES
    ) {
      run.end = Math.max(run.end, offset + length)
      run.items.push(item)
    } else {
      runs.push((run = { segment, start: offset, end: offset + length, items: [item] }))
    }
  }
  return runs
}
