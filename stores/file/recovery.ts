// Recovery: what start() does to the log before the store takes writes. It loads the index
// checkpoint, then replays the segments after the position it covers and checks every
// commit it reads. Only the final commit of the newest segment can be unsynced at a crash,
// so damage there that has the shape of a torn write is truncated and published as a
// `store.recovered` tap; any other damage (a bad checksum in an earlier commit or segment,
// an undecodable record, a seq out of order, a missing segment) rejects start() with
// StoreCorruptError naming the file and byte offset. Snapshots are derived data: one that
// does not decode is skipped with a warning, and its actor folds its events instead. With
// `verify: 'all'` the commits the checkpoint covers are checked too, each commit's and each
// record's checksum, without decoding them (about 0.2 s of CPU per million small events
// here: bench/scale.bench.ts), and each event and snapshot it indexes must be the record at
// the location it gives; `verify: 'tail'` skips that for large stores, and every record read
// later is still checked against its own checksum. Either way the checkpoint's last event is
// read back and compared before the checkpoint is trusted (one read), so a checkpoint of
// other data is ignored with a warning, and every segment replayed, rather than answering
// reads with the wrong records. Every segment must be a regular file of a size the store
// writes: a directory, device or pipe in its place is refused, never read or written.
import { readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreCorruptError, type EventStoreComponents, type Logger } from '../../core/index.js'
import { openRegularFile } from '../../support/small-file.js'
import { EventIndex, type LogPosition } from './event-index.js'
import { CHECKPOINT_FILE, loadIndexCheckpoint, type IndexCheckpoint } from './index-checkpoint.js'
import { MAX_COMMIT_BYTES, MAX_SEGMENT_BYTES, type FileStoreOptions } from './options.js'
import { decodeRecordBody, recordKindAt, recordKindOf } from './record-codec.js'
import {
  COMMIT_HEADER_BYTES,
  corrupt,
  RECORD_HEADER_BYTES,
  scanSegment,
  segmentName,
  segmentNumber,
  unframeRecord,
  type RecordLocation,
} from './segment-format.js'
import { warnSkippedSnapshot } from './segment-reader.js'

/** The log as recovery found it. */
export interface RecoveredLog {
  /** Every durable event, and the snapshots that still count their actor's events. */
  readonly index: EventIndex
  /** The end of the last intact commit: where the writer goes on. */
  readonly end: LogPosition
  /** True when the data dir had no segment yet: the writer creates segment 1. */
  readonly empty: boolean
  /** Events replayed after the checkpoint (not yet in any checkpoint). */
  readonly replayed: number
}

/** What recovery needs of the store. */
export interface RecoveryContext {
  readonly options: Pick<FileStoreOptions, 'dir' | 'verify'>
  readonly logger: Logger
  readonly components: Pick<EventStoreComponents, 'taps' | 'clock'>
}

/** Largest segment file the store writes: a full segment, or one commit of the largest size. */
const MAX_SEGMENT_FILE_BYTES = MAX_SEGMENT_BYTES + COMMIT_HEADER_BYTES + MAX_COMMIT_BYTES

/**
 * Opens a segment file, after checking it is a regular file: a directory, a device (a
 * symlink to /dev/zero would swallow every write) or a pipe (whose read never ends) where a
 * segment should be is refused with `StoreCorruptError`, as is a segment that cannot be opened.
 */
async function openSegment(
  file: string,
  access: 'read' | 'read-write',
): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle | string
  try {
    handle = await openRegularFile(file, access)
  } catch (error) {
    throw corrupt(file, 0, `a segment that cannot be opened (${(error as Error).message})`, error)
  }
  if (typeof handle === 'string') throw corrupt(file, 0, handle)
  const { size } = await handle.stat()
  // Record offsets are 32-bit: a larger file cannot be indexed, nor is it one the store wrote.
  if (size > MAX_SEGMENT_FILE_BYTES) {
    await handle.close()
    throw corrupt(
      file,
      MAX_SEGMENT_FILE_BYTES,
      `a segment of ${size} bytes, larger than the store writes one (${MAX_SEGMENT_FILE_BYTES})`,
    )
  }
  return { handle, size }
}

function endsBeforeCheckpoint(file: string, size: number, position: number): StoreCorruptError {
  return corrupt(file, size, `the segment ends before the index checkpoint's position ${position}`)
}

function locationKey(location: RecordLocation): string {
  return `${location.segment}:${location.offset}:${location.length}`
}

/** Recovers the log of `options.dir` (see the top of this file); throws `StoreCorruptError`. */
export async function recoverLog(context: RecoveryContext): Promise<RecoveredLog> {
  return new LogRecovery(context).run()
}

class LogRecovery {
  private index = new EventIndex()
  private readonly dir: string
  private readonly logger: Logger

  constructor(private readonly context: RecoveryContext) {
    this.dir = context.options.dir
    this.logger = context.logger
  }

  async run(): Promise<RecoveredLog> {
    const segments = await this.listSegments()
    let checkpoint = await this.loadCheckpoint(segments)
    if (
      checkpoint &&
      this.context.options.verify === 'all' &&
      !(await this.verifyBefore(checkpoint, segments))
    )
      checkpoint = this.mismatched(checkpoint, 'its events are not where it says in the segments')
    this.index = checkpoint?.index ?? new EventIndex()
    const from: LogPosition = checkpoint?.position ?? { segment: 1, offset: 0 }
    const last = segments.at(-1)
    let replayed = 0
    let end: LogPosition = { segment: 1, offset: 0 }
    for (const segment of segments) {
      if (segment < from.segment) continue
      const file = this.segmentPath(segment)
      const isLast = segment === last
      const { handle, size } = await openSegment(file, isLast ? 'read-write' : 'read')
      try {
        const start = segment === from.segment ? from.offset : 0
        if (size < start) throw endsBeforeCheckpoint(file, size, start)
        const result = await scanSegment({
          handle,
          file,
          size,
          from: start,
          isLast,
          onRecord: (body, offset, length) => {
            if (this.replayRecord(body, { segment, offset, length }, file)) replayed++
          },
        })
        if (result.tornBytes !== undefined)
          await this.truncateTorn(handle, file, result.end, result.tornBytes)
        if (isLast) end = { segment, offset: result.end }
      } finally {
        await handle.close()
      }
    }
    if (replayed > 0) this.logger.info('replayed the log after the index checkpoint', { replayed })
    return { index: this.index, end, empty: last === undefined, replayed }
  }

  /** Indexes one record met by the replay; returns true for an event. */
  private replayRecord(body: Uint8Array, location: RecordLocation, file: string): boolean {
    let record
    try {
      record = decodeRecordBody(body)
    } catch (error) {
      if (recordKindOf(body) === 'snapshot') {
        warnSkippedSnapshot(this.logger, file, location.offset, error)
        return false
      }
      throw corrupt(
        file,
        location.offset,
        `an undecodable record (${(error as Error).message})`,
        error,
      )
    }
    if (record.kind === 'snapshot') {
      const { snapshot } = record
      this.index.setSnapshot(snapshot.actorType, snapshot.actorId, {
        ...location,
        at: snapshot.at,
        eventCount: snapshot.eventCount,
      })
      return false
    }
    const { event } = record
    const expected = this.index.originCount(event.origin) + 1
    if (event.seq !== expected)
      throw corrupt(
        file,
        location.offset,
        `event ${event.origin}:${event.seq} out of order (expected seq ${expected})`,
      )
    this.index.add(event, location.segment, location.offset, location.length)
    return true
  }

  private async truncateTorn(handle: FileHandle, file: string, end: number, bytes: number) {
    await handle.truncate(end)
    await handle.datasync()
    this.logger.warn('truncated a torn commit at the end of the log (a crash during a write)', {
      file,
      offset: end,
      truncatedBytes: bytes,
    })
    const { taps, clock } = this.context.components
    taps.publish({ kind: 'store.recovered', at: clock.now(), file, truncatedBytes: bytes })
  }

  /**
   * With `verify: 'all'`: checks the commits the checkpoint covers (they are not replayed),
   * and that their records are the ones it indexes: its events, in order, at the locations
   * it gives, and each snapshot it names. Returns false when they are not.
   */
  private async verifyBefore(checkpoint: IndexCheckpoint, segments: number[]): Promise<boolean> {
    const { index, position } = checkpoint
    const snapshots = new Set<string>()
    for (const [, ref] of index.contents().snapshots) snapshots.add(locationKey(ref))
    let gid = 0
    let matches = true
    for (const segment of segments) {
      if (segment > position.segment) break
      const file = this.segmentPath(segment)
      const { handle, size } = await openSegment(file, 'read')
      try {
        const end = segment === position.segment ? Math.min(size, position.offset) : size
        await scanSegment({
          handle,
          file,
          size: end,
          from: 0,
          isLast: false,
          onFrame: (bytes, at, offset, length) => {
            if (
              length >= RECORD_HEADER_BYTES + 2 &&
              recordKindAt(bytes, at + RECORD_HEADER_BYTES) === 'snapshot'
            )
              snapshots.delete(locationKey({ segment, offset, length }))
            else if (matches) matches = index.isAt(gid++, segment, offset, length)
          },
        })
      } finally {
        await handle.close()
      }
    }
    return matches && gid === index.count && snapshots.size === 0
  }

  /** The segment numbers in the data dir, which must run 1, 2, 3, ... with none missing. */
  private async listSegments(): Promise<number[]> {
    const numbers = (await readdir(this.dir))
      .map(segmentNumber)
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b)
    numbers.forEach((n, i) => {
      if (n !== i + 1)
        throw new StoreCorruptError(
          `store data dir ${this.dir} is missing segment ${i + 1} (${this.segmentPath(i + 1)}): ` +
            `events in it are lost. Restore the data dir from a backup or replace it with an empty one.`,
          { file: this.segmentPath(i + 1), offset: 0 },
        )
    })
    return numbers
  }

  /**
   * The index checkpoint, when one is there and checks out against the segments; otherwise
   * undefined (full replay). Segments shorter than it says are refused: events it counts are lost.
   */
  private async loadCheckpoint(segments: number[]): Promise<IndexCheckpoint | undefined> {
    const checkpoint = await loadIndexCheckpoint(this.dir, this.logger)
    if (!checkpoint) return undefined
    const { segment, offset } = checkpoint.position
    const file = this.segmentPath(segment)
    if (!segments.includes(segment))
      throw new StoreCorruptError(
        `store data dir ${this.dir} has no segment ${segment}, but its index checkpoint ` +
          `covers events in it: they are lost. Restore the data dir from a backup.`,
        { file, offset },
      )
    const { handle, size } = await openSegment(file, 'read')
    try {
      if (size < offset) throw endsBeforeCheckpoint(file, size, offset)
    } finally {
      await handle.close()
    }
    const why = await this.lastEventMismatch(checkpoint.index)
    return why === undefined ? checkpoint : this.mismatched(checkpoint, why)
  }

  /**
   * Why the last event the checkpoint indexes is not the record at its location (a
   * checkpoint of another data dir, or one written beside other segments); undefined when
   * it is. One read: it binds the checkpoint to these segments before anything trusts it.
   */
  private async lastEventMismatch(index: EventIndex): Promise<string | undefined> {
    if (index.count === 0) return undefined
    const gid = index.count - 1
    const location = index.location(gid)
    const { handle } = await openSegment(this.segmentPath(location.segment), 'read')
    let frame: Buffer
    try {
      frame = Buffer.alloc(location.length)
      const { bytesRead } = await handle.read(frame, 0, location.length, location.offset)
      if (bytesRead !== location.length) return 'its last event lies past the segment'
    } finally {
      await handle.close()
    }
    const body = unframeRecord(frame)
    if (typeof body === 'string') return `its last event's record: ${body}`
    let record
    try {
      record = decodeRecordBody(body)
    } catch (error) {
      return `its last event's record does not decode (${(error as Error).message})`
    }
    if (record.kind !== 'event' || !index.holds(gid, record.event))
      return 'its last event is not the record at that location'
    return undefined
  }

  /** Warns that a checkpoint does not match the segments; the caller replays them all. */
  private mismatched(checkpoint: IndexCheckpoint, why: string): undefined {
    this.logger.warn(
      'ignoring an index checkpoint that does not match the segments (written for other data?); replaying every segment instead',
      { file: join(this.dir, CHECKPOINT_FILE), reason: why, position: checkpoint.position },
    )
    return undefined
  }

  private segmentPath(segment: number): string {
    return join(this.dir, segmentName(segment))
  }
}
