// Group commit: the file store's writer. `append`, `ingest` and `saveSnapshot` encode their
// records and join a queue; one writer loop takes everything queued (up to the commit
// limit), writes it as one durable commit (the segment is opened with O_DSYNC, or the write
// is followed by fdatasync), hands the records and their locations to the index, then
// resolves every caller in it. While that write is on its way to the disk the next callers
// queue up, so the batch grows with the load. A segment rolls to the next number when the
// next commit would take it past `segmentBytes`. After a failed write nothing more is
// written: every queued and later write is refused until a restart recovers the log.
import { constants as fsConstants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import {
  StoreUnavailableError,
  type EventRecord,
  type Logger,
  type Snapshot,
} from '../../core/index.js'
import { syncDirectory } from '../../support/durable-file.js'
import type { LogPosition } from './event-index.js'
import type { FileStoreOptions } from './options.js'
import {
  COMMIT_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  segmentName,
  writeCommitHeader,
  writeRecordFrame,
  type RecordLocation,
} from './segment-format.js'

/** First size of a commit's buffer (it grows as records join, up to the commit limit). */
const INITIAL_COMMIT_BUFFER_BYTES = 64 * 1024

/** A snapshot waiting in a commit (events wait as their own records). */
export class SnapshotWrite {
  constructor(readonly snapshot: Snapshot) {}
}

/** What a commit holds: events, and snapshots wrapped as `SnapshotWrite`. */
export type CommitItem = EventRecord | SnapshotWrite

/**
 * Called once a commit is durable, before any caller with records in it resumes, with each
 * record's location (in the same order as `items`).
 */
export type OnDurable = (items: readonly CommitItem[], locations: readonly RecordLocation[]) => void

/** The writer's counters, for metrics and tests. */
export interface WriterCounters {
  /** Group commits written (each one durable write of the segment). */
  commits: number
  /**
   * Durability barriers on segment files, one per commit: O_DSYNC writes (`sync: 'dsync'`)
   * or fdatasync calls (`sync: 'fdatasync'`).
   */
  syncs: number
  /** Records written (events and snapshots). */
  records: number
  /** Bytes written to segments. */
  bytes: number
}

/** The bytes these bodies take framed. */
export function framedBytes(bodies: readonly Uint8Array[]): number {
  let bytes = 0
  for (const body of bodies) bytes += RECORD_HEADER_BYTES + body.length
  return bytes
}

/**
 * The records of one group commit, framed in place behind room for the commit header, so
 * the commit is written as it stands. Every caller with records in it awaits `durable`.
 */
class CommitBatch {
  buffer: Buffer
  used = COMMIT_HEADER_BYTES
  readonly items: CommitItem[] = []
  /** Offset of each record's frame from the start of the commit. */
  readonly offsets: number[] = []
  readonly durable: Promise<void>
  resolve!: () => void
  reject!: (error: unknown) => void

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity)
    this.durable = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.durable.catch(() => {}) // its callers handle a failure; this one must not go unhandled
  }

  get bodyBytes(): number {
    return this.used - COMMIT_HEADER_BYTES
  }

  add(item: CommitItem, body: Uint8Array): void {
    const needed = this.used + RECORD_HEADER_BYTES + body.length
    if (needed > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
      this.buffer.copy(bigger, 0, 0, this.used)
      this.buffer = bigger
    }
    this.items.push(item)
    this.offsets.push(this.used)
    this.used += writeRecordFrame(this.buffer, this.used, body)
  }
}

/** The writer of a file store's log: group commits appended to the newest segment. */
export class GroupCommitWriter {
  /** Set once a write failed: every queued and later write is refused with it. */
  failure?: StoreUnavailableError
  readonly counters: WriterCounters = { commits: 0, syncs: 0, records: 0, bytes: 0 }
  private handle?: FileHandle
  private segment = 1
  private segmentSize = 0
  /** Commits waiting to be written; the last one takes more records. */
  private queue: CommitBatch[] = []
  private flushing?: Promise<void>
  /** Most record bytes in one commit: one segment's worth at most, unless one call needs more. */
  private readonly commitLimit: number

  constructor(
    private readonly options: Pick<
      FileStoreOptions,
      'dir' | 'segmentBytes' | 'maxCommitBytes' | 'sync'
    >,
    private readonly logger: Logger,
    private readonly onDurable: OnDurable,
  ) {
    this.commitLimit = Math.min(options.maxCommitBytes, options.segmentBytes - COMMIT_HEADER_BYTES)
  }

  /** The end of the last durable commit: where the next one goes. */
  position(): LogPosition {
    return { segment: this.segment, offset: this.segmentSize }
  }

  /**
   * Opens the segment at `end` for writing at its offset (creating it, and making its name
   * durable, when `create`); clears an earlier failure.
   */
  async open(end: LogPosition, create: boolean): Promise<void> {
    this.failure = undefined
    this.handle = await open(this.segmentPath(end.segment), this.openFlags(create))
    this.segment = end.segment
    this.segmentSize = end.offset
    if (create) await syncDirectory(this.options.dir)
  }

  /**
   * Puts one call's records in the open commit (all in the same one, so a crash keeps all
   * or none of them) and resolves once that commit is durable. The bodies are copied in
   * before this returns, so a body may be the encoder's shared buffer.
   */
  commit(items: readonly CommitItem[], bodies: readonly Uint8Array[]): Promise<void> {
    const batch = this.batchFor(framedBytes(bodies))
    items.forEach((item, i) => batch.add(item, bodies[i]!))
    return batch.durable
  }

  /** Waits until every queued commit is written (or refused). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing
  }

  /** Closes the segment being written (after `drain`). */
  async close(): Promise<void> {
    await this.handle?.close().catch(() => {})
    this.handle = undefined
  }

  /** The open commit if `bytes` more fit in it, else a new one; makes sure the writer runs. */
  private batchFor(bytes: number): CommitBatch {
    let batch = this.queue.at(-1)
    if (!batch || (batch.items.length > 0 && batch.bodyBytes + bytes > this.commitLimit)) {
      const capacity = Math.min(this.commitLimit, Math.max(bytes, INITIAL_COMMIT_BUFFER_BYTES))
      this.queue.push((batch = new CommitBatch(COMMIT_HEADER_BYTES + capacity)))
    }
    this.flushing ??= this.flush()
    return batch
  }

  /** Writes commits until the queue is empty; the next caller starts it again. */
  private async flush(): Promise<void> {
    // Let the callers of this turn of the event loop join the first commit.
    await new Promise((resolve) => setImmediate(resolve))
    try {
      while (this.queue.length > 0) {
        await this.commitNext()
        // The callers just resolved may append again at once (promise continuations): let
        // them, so their records make the next commit without waiting for another turn.
        if (this.queue.length === 0) await new Promise((resolve) => process.nextTick(resolve))
      }
    } catch (error) {
      this.fail(error)
    } finally {
      this.flushing = undefined
    }
  }

  private async commitNext(): Promise<void> {
    const batch = this.queue.shift()!
    try {
      if (this.segmentSize > 0 && this.segmentSize + batch.used > this.options.segmentBytes)
        await this.roll()
      writeCommitHeader(batch.buffer, batch.bodyBytes)
      await writeFully(this.handle!, batch.buffer.subarray(0, batch.used), this.segmentSize)
      if (this.options.sync === 'fdatasync') await this.handle!.datasync()
      this.counters.syncs++
    } catch (error) {
      const failure = this.fail(error)
      batch.reject(failure)
      throw failure
    }
    const at = this.segmentSize
    this.segmentSize += batch.used
    this.counters.commits++
    this.counters.bytes += batch.used
    this.counters.records += batch.items.length
    const { items, offsets } = batch
    const locations = offsets.map((offset, i) => ({
      segment: this.segment,
      offset: at + offset,
      length: (offsets[i + 1] ?? batch.used) - offset,
    }))
    this.onDurable(items, locations)
    batch.resolve()
  }

  private async roll(): Promise<void> {
    await this.handle!.close()
    this.handle = undefined
    const next = this.segment + 1
    this.handle = await open(this.segmentPath(next), this.openFlags(true))
    this.segment = next
    this.segmentSize = 0
    await syncDirectory(this.options.dir)
    this.logger.debug('rolled to a new segment', { segment: next })
  }

  /** Puts the writer in the failed state: every queued and later write is refused. */
  private fail(error: unknown): StoreUnavailableError {
    if (!this.failure) {
      const reason = error instanceof Error ? error.message : String(error)
      this.failure = new StoreUnavailableError(
        `the file store in ${this.options.dir} could not write its log (${reason}) and accepts ` +
          `no more writes. Fix the disk and restart the node: recovery keeps every acknowledged event.`,
        { cause: error },
      )
      this.logger.error('file store write failed; refusing further writes', { error })
    }
    for (const batch of this.queue.splice(0)) batch.reject(this.failure)
    return this.failure
  }

  /** Open flags of the segment being written: read-write, and with `dsync` every write is durable when it returns. */
  private openFlags(create: boolean): number {
    const { O_RDWR, O_CREAT, O_EXCL } = fsConstants
    return (
      O_RDWR |
      (create ? O_CREAT | O_EXCL : 0) |
      (this.options.sync === 'dsync' ? fsConstants.O_DSYNC : 0)
    )
  }

  private segmentPath(segment: number): string {
    return join(this.options.dir, segmentName(segment))
  }
}

async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let written = 0
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(
      buffer,
      written,
      buffer.length - written,
      position + written,
    )
    written += bytesWritten
  }
}
