// The file store: the embedded default event store, in one data dir on local disk.
//
// Format. Events and snapshots are records (msgpack) appended to numbered segment files
// (`segment-000000000001.log`, ...). Records are written in commits: one commit is one
// write of many records behind a header holding its length and checksums (see
// segment-format.ts), durable before the next commit starts (the segment is opened with
// O_DSYNC, or each write is followed by fdatasync: `sync`). A segment rolls to the next
// number when the next commit would take it past `segmentBytes`.
//
// Group commit. `append`, `ingest` and `saveSnapshot` encode their records and join a
// queue; one writer loop takes everything queued (up to `maxCommitBytes`), writes it as
// one durable commit, then indexes the records and resolves every caller in it. While
// that write is on its way to the disk the next callers queue up, so the batch grows with
// the load. Seqs are given when a call joins the queue, so concurrent appends never
// collide; reads and the version vector only ever see records that are durable.
//
// Index. Memory holds, per event, its merge key and record location (never its payload:
// payloads are read back from disk, through a small cache), per origin the events in seq
// order, per actor the events in merge order and its snapshot's location (event-index.ts).
// Every `checkpointEvery` events (or an eighth of the index, when that is more) and on
// stop, the whole index is written to `index.ckpt` (temp file, fsync, rename) with the log
// position it covers. A start loads the checkpoint and replays only the segments after
// that position, so a restart reads the tail, not the whole log. A missing or damaged
// checkpoint only costs a full replay.
//
// Recovery. The replay checks every commit it reads. Only the final commit of the newest
// segment can be unsynced at a crash, so damage there that has the shape of a torn write is
// truncated and published as a `store.recovered` tap; any other damage (a bad checksum in
// an earlier commit or segment, an undecodable record, a seq out of order) rejects start()
// with StoreCorruptError naming the file and byte offset. Snapshots are derived data: one
// that does not decode (at replay or at load) is skipped with a warning, and its actor
// folds its events instead. By default (`verify: 'all'`) start also re-checks the
// checksums of the commits the checkpoint covers, without decoding them (about 1.3 s per
// million small events here); `verify: 'tail'` skips that for large stores, and every
// record read later is still checked against its own checksum.
//
// Lock. A lock file holding host and pid refuses a second store on the dir: in this
// process, or in a live process on this host. A lock left by an exited process, or by an
// earlier process with this pid (a restarted container), is taken over (data-dir-lock.ts).

import { constants as fsConstants } from 'node:fs'
import { mkdir, open, readdir, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import {
  AbortedError,
  actorAddress,
  ConfigError,
  eventKey,
  gaplessIngest,
  NotRunningError,
  PayloadTooLargeError,
  StoreCorruptError,
  StoreUnavailableError,
  type AbortOptions,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type EventStoreComponents,
  type Logger,
  type ReadActorOptions,
  type Snapshot,
  type VersionVector,
} from '../../core/index.js'
import { crc32 } from './crc32.js'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js'
import { EventIndex, type LogPosition, type SnapshotRef } from './event-index.js'
import {
  decodeRecordBody,
  encodeEventBody,
  encodeSnapshotBody,
  recordKindOf,
} from './record-codec.js'
import {
  COMMIT_HEADER_BYTES,
  corrupt,
  MAX_RECORD_BYTES,
  RECORD_HEADER_BYTES,
  scanSegment,
  unframeRecord,
  writeCommitHeader,
  writeRecordFrame,
  type RecordLocation,
} from './segment-format.js'
import { syncDirectory, writeFileDurably } from '../../support/durable-file.js'

/** Smallest accepted `segmentBytes` (tiny segments are for tests of rolling). */
export const MIN_SEGMENT_BYTES = 1024
/** Largest accepted `segmentBytes`: record offsets are 32-bit. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024
/** Largest accepted `maxCommitBytes`. */
export const MAX_COMMIT_BYTES = 64 * 1024 * 1024

/** The defaults of every optional `FileStoreInit` field. */
export const FILE_STORE_DEFAULTS = {
  segmentBytes: 64 * 1024 * 1024,
  maxCommitBytes: 4 * 1024 * 1024,
  checkpointEvery: 50_000,
  cacheEvents: 4096,
  // A bad checksum anywhere must stop the node at start, not at the first read of that event.
  verify: 'all',
  // O_DSYNC is POSIX; where Node does not define it (Windows) fall back to fdatasync.
  sync: typeof fsConstants.O_DSYNC === 'number' ? 'dsync' : 'fdatasync',
} as const satisfies Partial<FileStoreInit>

/** Name of the index checkpoint in the data dir. */
export const CHECKPOINT_FILE = 'index.ckpt'

const CHECKPOINT_MAGIC = Buffer.from('AWI1', 'latin1')
const CHECKPOINT_HEADER_BYTES = 12
const SEGMENT_PATTERN = /^segment-(\d{12})\.log$/
/** With many events, a checkpoint is written once the events since the last one reach 1/this of all. */
const CHECKPOINT_GROWTH = 8
/** First size of a commit's buffer (it grows as records join, up to the commit limit). */
const INITIAL_COMMIT_BUFFER_BYTES = 64 * 1024
/** Snapshots kept decoded in memory (the most recently saved or loaded). */
const SNAPSHOT_CACHE_ENTRIES = 256
/**
 * After a snapshot of an actor is over MAX_RECORD_BYTES, its next snapshots are refused
 * without encoding until the actor has this many times the events it had then.
 */
const OVERSIZED_SNAPSHOT_GROWTH = 2
/** Records closer than this on disk are read with one read call. */
const READ_GAP_BYTES = 64 * 1024
/** Largest single read when reading many records at once. */
const MAX_READ_BYTES = 4 * 1024 * 1024
/** How many reads one `readActor`/`readOrigin` call has in flight at a time. */
const READ_PARALLELISM = 8
/** Segment files kept open for reading. */
const MAX_OPEN_SEGMENTS = 32

/** How the file store is configured. */
export interface FileStoreInit {
  /** The data dir: segments, index checkpoint and lock file live here (created if missing). */
  dir: string
  /** A segment rolls to the next file when a commit would take it past this size. */
  segmentBytes?: number
  /** Most bytes of records in one group commit (one durable write). */
  maxCommitBytes?: number
  /** Events between two index checkpoints (a restart replays at most this many). */
  checkpointEvery?: number
  /** Recently written or read events kept decoded in memory (0 turns the cache off). */
  cacheEvents?: number
  /**
   * What start() checks: `tail` re-reads the segments after the index checkpoint; `all`
   * also re-reads and checks every older commit (slower: reads the whole log).
   */
  verify?: 'tail' | 'all'
  /**
   * How a commit is made durable: `dsync` writes through a segment opened with O_DSYNC
   * (one system call: the write returns once the data is on disk), `fdatasync` writes and
   * then calls fdatasync (two). Both give the same guarantee; `dsync` where available.
   */
  sync?: 'dsync' | 'fdatasync'
}

const fileStoreInitSchema = z.object({
  dir: z.string().min(1),
  segmentBytes: z.number().int().min(MIN_SEGMENT_BYTES).max(MAX_SEGMENT_BYTES).optional(),
  maxCommitBytes: z.number().int().min(1).max(MAX_COMMIT_BYTES).optional(),
  checkpointEvery: z.number().int().min(1).optional(),
  cacheEvents: z.number().int().min(0).optional(),
  verify: z.enum(['tail', 'all']).optional(),
  sync: z.enum(['dsync', 'fdatasync']).optional(),
})

type FileStoreOptions = Required<FileStoreInit>

/** Checks `init` once and fills in the defaults; throws `ConfigError` naming the bad field. */
export function parseFileStoreInit(init: FileStoreInit): FileStoreOptions {
  const parsed = fileStoreInitSchema.safeParse(init)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConfigError(`file store: ${issue.path.join('.') || 'init'}: ${issue.message}`, {
      cause: parsed.error,
    })
  }
  const given = Object.entries(parsed.data).filter(([, value]) => value !== undefined)
  return {
    ...FILE_STORE_DEFAULTS,
    ...(Object.fromEntries(given) as Partial<FileStoreOptions>),
    dir: parsed.data.dir,
  }
}

/**
 * The file store, the embedded default: append-only checksummed segments in `init.dir`,
 * group commit (an append resolves once the commit that holds it is durable), an index checkpoint
 * so a restart replays only the tail, crash recovery and a lock against a second process.
 */
export function fileStore(
  init: FileStoreInit,
): (components: EventStoreComponents) => FileEventStore {
  const options = parseFileStoreInit(init)
  return (components) => new FileEventStore(options, components)
}

/** Counters of the writer, for metrics and tests. */
export interface FileStoreStats {
  /** Group commits written (each one durable write of the segment). */
  readonly commits: number
  /**
   * Durability barriers on segment files, one per commit: O_DSYNC writes (`sync: 'dsync'`)
   * or fdatasync calls (`sync: 'fdatasync'`).
   */
  readonly syncs: number
  /** Records written (events and snapshots). */
  readonly records: number
  /** Bytes written to segments. */
  readonly bytes: number
  /** The number of the segment being written. */
  readonly segment: number
  /** Events held (durable). */
  readonly events: number
  /** Index checkpoints written. */
  readonly checkpoints: number
}

/** A snapshot waiting in a commit (events wait as their own records). */
class SnapshotWrite {
  constructor(readonly snapshot: Snapshot) {}
}

/**
 * The records of one group commit, framed in place behind room for the commit header, so
 * the commit is written as it stands. Every caller with records in it awaits `durable`.
 */
class CommitBatch {
  buffer: Buffer
  used = COMMIT_HEADER_BYTES
  readonly items: Array<EventRecord | SnapshotWrite> = []
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

  add(item: EventRecord | SnapshotWrite, body: Uint8Array): void {
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

type State = 'stopped' | 'running' | 'stopping'

/** The file store (see the top of this file for its design). Create it with `fileStore(init)`. */
export class FileEventStore implements EventStore {
  private readonly logger: Logger
  private state: State = 'stopped'
  private starting?: Promise<void>
  private stopping?: Promise<void>
  private failure?: StoreUnavailableError
  private lock?: DataDirLock
  private index = new EventIndex()
  /** Highest seq given per origin, counting queued (not yet durable) records. */
  private readonly assigned = new Map<string, number>()
  private writer?: FileHandle
  private segment = 1
  private segmentSize = 0
  /** Commits waiting to be written; the last one takes more records. */
  private queue: CommitBatch[] = []
  private flushing?: Promise<void>
  private checkpointing?: Promise<void>
  private sinceCheckpoint = 0
  private readers: SegmentReaders
  /** Read calls under way (each whole call, not its single reads): stop() waits for them. */
  private readonly reads = new Set<Promise<unknown>>()
  private readonly cache: RecentCache<number, EventRecord>
  private readonly snapshots = new RecentCache<string, { ref: SnapshotRef; snapshot: Snapshot }>(
    SNAPSHOT_CACHE_ENTRIES,
  )
  /** Per actor, its last snapshot that was over MAX_RECORD_BYTES: its event count and size. */
  private readonly oversized = new RecentCache<string, { eventCount: number; bytes: number }>(
    SNAPSHOT_CACHE_ENTRIES,
  )
  private readonly counters = { commits: 0, syncs: 0, records: 0, bytes: 0, checkpoints: 0 }
  /** Most record bytes in one commit: one segment's worth at most, unless one call needs more. */
  private readonly commitLimit: number

  constructor(
    private readonly options: FileStoreOptions,
    private readonly components: EventStoreComponents,
  ) {
    this.logger = components.logger.child({ component: 'file-store', dir: options.dir })
    this.readers = new SegmentReaders(options.dir)
    this.cache = new RecentCache(options.cacheEvents)
    this.commitLimit = Math.min(options.maxCommitBytes, options.segmentBytes - COMMIT_HEADER_BYTES)
  }

  /** The writer's counters. */
  stats(): FileStoreStats {
    return {
      ...this.counters,
      segment: this.segment,
      events: this.index.count,
    }
  }

  async start(): Promise<void> {
    if (this.stopping) await this.stopping
    if (this.state === 'running') return
    this.starting ??= this.open().finally(() => {
      this.starting = undefined
    })
    return this.starting
  }

  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => {})
    if (this.state === 'running') {
      this.state = 'stopping'
      this.stopping = this.close().finally(() => {
        this.state = 'stopped'
        this.stopping = undefined
      })
    }
    return this.stopping
  }

  async append(drafts: readonly EventDraft[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertWritable('append', options)
    if (drafts.length === 1) {
      // The common case (one command, one event): encoded straight into the commit.
      const record = this.recordOf(drafts[0]!, this.highestSeq(drafts[0]!.origin) + 1)
      const body = encodeEvent(record)
      this.assigned.set(record.origin, record.seq)
      const batch = this.batchFor(RECORD_HEADER_BYTES + body.length)
      batch.add(record, body)
      await batch.durable
      return [record]
    }
    if (drafts.length === 0) return []
    const next = new Map<string, number>()
    const records = drafts.map((draft) => {
      const seq = (next.get(draft.origin) ?? this.highestSeq(draft.origin)) + 1
      next.set(draft.origin, seq)
      return this.recordOf(draft, seq)
    })
    // Encode before taking the seqs: an event that cannot be encoded must not leave a gap.
    const bodies = records.map((record) => encodeEvent(record).slice())
    assertCommitSize(bodies)
    for (const [origin, seq] of next) this.assigned.set(origin, seq)
    await this.commitRecords(records, bodies)
    return records
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertWritable('ingest', options)
    const { accepted, highestSeqs } = gaplessIngest(events, (origin) => this.highestSeq(origin))
    if (accepted.length === 0) return []
    const bodies = accepted.map((event) => encodeEvent(event).slice())
    assertCommitSize(bodies)
    for (const [origin, seq] of highestSeqs) this.assigned.set(origin, seq)
    await this.commitRecords(accepted, bodies)
    return accepted
  }

  async readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readActor', options)
    const entry = this.index.actor(actorType, actorId)
    if (!entry) return []
    const from = options?.after ? this.index.countUpTo(entry, options.after) : 0
    return this.track(this.readEvents(entry.gids.slice(from)))
  }

  async readOrigin(
    origin: string,
    fromSeq: number,
    limit: number,
    options?: AbortOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readOrigin', options)
    return this.track(this.readEvents(this.index.originRange(origin, fromSeq, limit)))
  }

  async versionVector(options?: AbortOptions): Promise<VersionVector> {
    this.assertRunning('versionVector', options)
    return this.index.versionVector()
  }

  async saveSnapshot(snapshot: Snapshot, options?: AbortOptions): Promise<void> {
    this.assertWritable('saveSnapshot', options)
    const { actorType, actorId } = snapshot
    const counted = this.index.countUpTo(this.index.actor(actorType, actorId), snapshot.at)
    if (counted !== snapshot.eventCount) return // folded before an event that has since arrived
    const address = actorAddress(actorType, actorId)
    // Encoding a state this large takes long: after one is over the limit, the next ones
    // (the runtime tries again as events come) are refused at once until the actor grows.
    const over = this.oversized.get(address)
    if (over && snapshot.eventCount < over.eventCount * OVERSIZED_SNAPSHOT_GROWTH)
      throw new PayloadTooLargeError(
        `the snapshot of ${address} is refused without encoding until the actor has ` +
          `${over.eventCount * OVERSIZED_SNAPSHOT_GROWTH} events: its last one, at ${over.eventCount} events,`,
        over.bytes,
        MAX_RECORD_BYTES,
      )
    const body = encodeSnapshotBody(snapshot)
    if (body.length > MAX_RECORD_BYTES) {
      this.oversized.set(address, { eventCount: snapshot.eventCount, bytes: body.length })
      throw new PayloadTooLargeError(
        `the snapshot of ${address} (${snapshot.eventCount} events)`,
        body.length,
        MAX_RECORD_BYTES,
      )
    }
    await this.commitRecords([new SnapshotWrite(snapshot)], [body])
  }

  async loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined> {
    this.assertRunning('loadSnapshot', options)
    return this.track(this.readSnapshot(actorType, actorId))
  }

  // ---- start and stop ----

  private async open(): Promise<void> {
    const { dir } = this.options
    await mkdir(dir, { recursive: true })
    this.lock = await acquireDataDirLock(dir, this.logger)
    try {
      this.failure = undefined
      this.readers = new SegmentReaders(dir)
      this.assigned.clear()
      this.cache.clear()
      this.snapshots.clear()
      this.oversized.clear()
      await this.recover()
      this.state = 'running'
      this.logger.info('file store started', {
        events: this.index.count,
        segment: this.segment,
        segmentSize: this.segmentSize,
      })
    } catch (error) {
      await this.releaseHandles()
      throw error
    }
  }

  /** Loads the checkpoint, replays and checks the segments after it, opens the writer. */
  private async recover(): Promise<void> {
    const segments = await this.listSegments()
    const checkpoint = await this.loadCheckpoint(segments)
    this.index = checkpoint?.index ?? new EventIndex()
    const from: LogPosition = checkpoint?.position ?? { segment: 1, offset: 0 }
    const last = segments.at(-1)
    if (this.options.verify === 'all') await this.verifyBefore(from, segments)
    let replayed = 0
    for (const segment of segments) {
      if (segment < from.segment) continue
      const file = this.segmentPath(segment)
      const isLast = segment === last
      const handle = await open(file, isLast ? 'r+' : 'r')
      try {
        const { size } = await handle.stat()
        const start = segment === from.segment ? from.offset : 0
        if (size < start)
          throw corrupt(
            file,
            size,
            `the segment ends before the index checkpoint's position ${start}`,
          )
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
        if (isLast) {
          this.segment = segment
          this.segmentSize = result.end
        }
      } finally {
        await handle.close()
      }
    }
    if (last === undefined) {
      this.segment = 1
      this.segmentSize = 0
      this.writer = await open(this.segmentPath(1), this.writerFlags(true))
      await syncDirectory(this.options.dir)
    } else {
      this.writer = await open(this.segmentPath(last), this.writerFlags(false))
    }
    this.sinceCheckpoint = replayed
    if (replayed > 0) this.logger.info('replayed the log after the index checkpoint', { replayed })
  }

  /** Indexes one record met by the replay; returns true for an event. */
  private replayRecord(body: Uint8Array, location: RecordLocation, file: string): boolean {
    let record
    try {
      record = decodeRecordBody(body)
    } catch (error) {
      if (recordKindOf(body) === 'snapshot') {
        this.skipSnapshot(location, error)
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

  private skipSnapshot(location: RecordLocation, error: unknown): void {
    this.logger.warn(
      'skipping a snapshot that does not decode; its actor folds its events instead',
      {
        file: this.segmentPath(location.segment),
        offset: location.offset,
        reason: error instanceof Error ? error.message : String(error),
      },
    )
  }

  private async truncateTorn(handle: FileHandle, file: string, end: number, bytes: number) {
    await handle.truncate(end)
    await handle.datasync()
    this.logger.warn('truncated a torn commit at the end of the log (a crash during a write)', {
      file,
      offset: end,
      truncatedBytes: bytes,
    })
    this.components.taps.publish({
      kind: 'store.recovered',
      at: this.components.clock.now(),
      file,
      truncatedBytes: bytes,
    })
  }

  /** With `verify: 'all'`: checks the commits the checkpoint covers (they are not replayed). */
  private async verifyBefore(from: LogPosition, segments: number[]): Promise<void> {
    for (const segment of segments) {
      if (segment > from.segment) break
      const file = this.segmentPath(segment)
      const handle = await open(file, 'r')
      try {
        const { size } = await handle.stat()
        const end = segment === from.segment ? Math.min(size, from.offset) : size
        await scanSegment({ handle, file, size: end, from: 0, isLast: false })
      } finally {
        await handle.close()
      }
    }
  }

  /** The segment numbers in the data dir, which must run 1, 2, 3, ... with none missing. */
  private async listSegments(): Promise<number[]> {
    const numbers = (await readdir(this.options.dir))
      .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b)
    numbers.forEach((n, i) => {
      if (n !== i + 1)
        throw new StoreCorruptError(
          `store data dir ${this.options.dir} is missing segment ${i + 1} (${this.segmentPath(i + 1)}): ` +
            `events in it are lost. Restore the data dir from a backup or replace it with an empty one.`,
          this.segmentPath(i + 1),
          0,
        )
    })
    return numbers
  }

  /** The index checkpoint, when one is there and checks out; otherwise undefined (full replay). */
  private async loadCheckpoint(
    segments: number[],
  ): Promise<{ index: EventIndex; position: LogPosition } | undefined> {
    const file = join(this.options.dir, CHECKPOINT_FILE)
    let bytes: Buffer
    try {
      bytes = await readFile(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    let checkpoint
    try {
      if (bytes.length < CHECKPOINT_HEADER_BYTES || !bytes.subarray(0, 4).equals(CHECKPOINT_MAGIC))
        throw new Error('not a checkpoint file')
      const body = bytes.subarray(CHECKPOINT_HEADER_BYTES)
      if (bytes.readUInt32LE(4) !== body.length || bytes.readUInt32LE(8) !== crc32(body))
        throw new Error('checksum mismatch')
      checkpoint = EventIndex.deserialize(body)
    } catch (error) {
      // The checkpoint is derived data: the segments hold everything it says.
      this.logger.warn('ignoring a damaged index checkpoint; replaying every segment instead', {
        file,
        error,
      })
      return undefined
    }
    const { segment } = checkpoint.position
    if (!segments.includes(segment))
      throw new StoreCorruptError(
        `store data dir ${this.options.dir} has no segment ${segment}, but its index checkpoint ` +
          `covers events in it: they are lost. Restore the data dir from a backup.`,
        this.segmentPath(segment),
        checkpoint.position.offset,
      )
    return checkpoint
  }

  private async close(): Promise<void> {
    while (this.flushing) await this.flushing
    await Promise.allSettled([...this.reads])
    try {
      if (this.checkpointing) await this.checkpointing
      if (this.sinceCheckpoint > 0 && !this.failure) await this.checkpoint()
    } catch (error) {
      // Only costs a longer replay at the next start: the segments hold everything.
      this.logger.warn('could not write the index checkpoint at stop', { error })
    } finally {
      await this.releaseHandles()
    }
    this.logger.info('file store stopped', { events: this.index.count })
  }

  private async releaseHandles(): Promise<void> {
    await this.writer?.close().catch(() => {})
    this.writer = undefined
    await this.readers.closeAll()
    await this.lock?.release()
    this.lock = undefined
  }

  // ---- group commit ----

  /**
   * Puts one call's records in the open commit (all in the same one, so a crash keeps all
   * or none of them) and resolves once that commit is durable. The bodies are copied in
   * before this returns, so a body may be the encoder's shared buffer.
   */
  private commitRecords(
    items: Array<EventRecord | SnapshotWrite>,
    bodies: readonly Uint8Array[],
  ): Promise<void> {
    const batch = this.batchFor(framedBytes(bodies))
    items.forEach((item, i) => batch.add(item, bodies[i]!))
    return batch.durable
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
      await writeFully(this.writer!, batch.buffer.subarray(0, batch.used), this.segmentSize)
      if (this.options.sync === 'fdatasync') await this.writer!.datasync()
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
    let events = 0
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      const offset = at + offsets[i]!
      const length = (offsets[i + 1] ?? batch.used) - offsets[i]!
      if (item instanceof SnapshotWrite) {
        this.indexSnapshot(item.snapshot, { segment: this.segment, offset, length })
      } else {
        const gid = this.index.add(item, this.segment, offset, length)
        this.cache.set(gid, item)
        events++
      }
    }
    batch.resolve()
    this.sinceCheckpoint += events
    // A checkpoint writes the whole index, so the gap between two grows with it: the
    // total cost stays linear in the number of events, and a restart replays at most
    // max(checkpointEvery, events / CHECKPOINT_GROWTH) of them.
    const due = Math.max(this.options.checkpointEvery, this.index.count / CHECKPOINT_GROWTH)
    if (this.sinceCheckpoint >= due && !this.checkpointing)
      this.checkpointing = this.checkpoint()
        .catch((error: unknown) =>
          this.logger.warn('could not write the index checkpoint', { error }),
        )
        .finally(() => {
          this.checkpointing = undefined
        })
  }

  private indexSnapshot(snapshot: Snapshot, location: RecordLocation): void {
    const { actorType, actorId } = snapshot
    const ref: SnapshotRef = {
      ...location,
      at: eventKey(snapshot.at),
      eventCount: snapshot.eventCount,
    }
    // Checked again now: an event ingested while this commit ran may have made it stale.
    if (this.index.setSnapshot(actorType, actorId, ref))
      this.snapshots.set(actorAddress(actorType, actorId), { ref, snapshot })
  }

  private async roll(): Promise<void> {
    await this.writer!.close()
    this.writer = undefined
    const next = this.segment + 1
    this.writer = await open(this.segmentPath(next), this.writerFlags(true))
    this.segment = next
    this.segmentSize = 0
    await syncDirectory(this.options.dir)
    this.logger.debug('rolled to a new segment', { segment: next })
  }

  /** Puts the store in the failed state: every queued and later write is refused. */
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

  /** Writes the index and the position it covers to the checkpoint file (atomically). */
  private async checkpoint(): Promise<void> {
    // Serialize now, synchronously: the index and the position must match.
    const body = this.index.serialize({ segment: this.segment, offset: this.segmentSize })
    this.sinceCheckpoint = 0
    const header = Buffer.alloc(CHECKPOINT_HEADER_BYTES)
    CHECKPOINT_MAGIC.copy(header, 0)
    header.writeUInt32LE(body.length, 4)
    header.writeUInt32LE(crc32(body), 8)
    await writeFileDurably(join(this.options.dir, CHECKPOINT_FILE), Buffer.concat([header, body]))
    this.counters.checkpoints++
  }

  // ---- reads ----

  /** The snapshot the index names for an actor, or undefined (none, stale or undecodable). */
  private async readSnapshot(actorType: string, actorId: string): Promise<Snapshot | undefined> {
    const entry = this.index.actor(actorType, actorId)
    const ref = entry?.snapshot
    if (!entry || !ref) return undefined
    if (this.index.countUpTo(entry, ref.at) !== ref.eventCount) {
      delete entry.snapshot
      return undefined
    }
    const address = actorAddress(actorType, actorId)
    const cached = this.snapshots.get(address)
    if (cached?.ref === ref) return cached.snapshot
    const frame = await this.readers.read(ref.segment, ref.offset, ref.length)
    let record
    try {
      record = this.decodeFrame(frame, ref)
    } catch (error) {
      // Derived data: the actor folds its events instead, as if it had no snapshot.
      if (entry.snapshot === ref) delete entry.snapshot
      this.skipSnapshot(ref, error)
      return undefined
    }
    if (
      record.kind !== 'snapshot' ||
      record.snapshot.actorType !== actorType ||
      record.snapshot.actorId !== actorId
    )
      throw corrupt(this.segmentPath(ref.segment), ref.offset, 'not the snapshot the index names')
    this.snapshots.set(address, { ref, snapshot: record.snapshot })
    return record.snapshot
  }

  /** The events of these gids, from the cache or read back from their segments. */
  private async readEvents(gids: number[]): Promise<EventRecord[]> {
    const events = new Array<EventRecord>(gids.length)
    const missing: Array<{ slot: number; gid: number; location: RecordLocation }> = []
    gids.forEach((gid, slot) => {
      const hit = this.cache.get(gid)
      if (hit) events[slot] = hit
      else missing.push({ slot, gid, location: this.index.location(gid) })
    })
    const runs = planReads(missing)
    for (let i = 0; i < runs.length; i += READ_PARALLELISM) {
      await Promise.all(
        runs.slice(i, i + READ_PARALLELISM).map(async (run) => {
          const bytes = await this.track(
            this.readers.read(run.segment, run.start, run.end - run.start),
          )
          for (const item of run.items) {
            const at = item.location.offset - run.start
            const record = this.decodeFrame(
              bytes.subarray(at, at + item.location.length),
              item.location,
            )
            const expected = this.index.identity(item.gid)
            if (
              record.kind !== 'event' ||
              record.event.origin !== expected.origin ||
              record.event.seq !== expected.seq
            )
              throw corrupt(
                this.segmentPath(item.location.segment),
                item.location.offset,
                `not the event the index names (${expected.origin}:${expected.seq})`,
              )
            events[item.slot] = record.event
            this.cache.set(item.gid, record.event)
          }
        }),
      )
    }
    return events
  }

  private decodeFrame(frame: Uint8Array, location: RecordLocation) {
    const file = this.segmentPath(location.segment)
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

  /** Keeps a read call in `reads` until it settles, so stop() can wait for it before closing files. */
  private track<T>(read: Promise<T>): Promise<T> {
    this.reads.add(read)
    void read.finally(() => this.reads.delete(read)).catch(() => {})
    return read
  }

  private recordOf(draft: EventDraft, seq: number): EventRecord {
    return {
      actorType: draft.actorType,
      actorId: draft.actorId,
      origin: draft.origin,
      seq,
      hlc: draft.hlc,
      type: draft.type,
      payload: draft.payload,
    }
  }

  /** Open flags of the segment being written: read-write, and with `dsync` every write is durable when it returns. */
  private writerFlags(create: boolean): number {
    const { O_RDWR, O_CREAT, O_EXCL } = fsConstants
    return (
      O_RDWR |
      (create ? O_CREAT | O_EXCL : 0) |
      (this.options.sync === 'dsync' ? fsConstants.O_DSYNC : 0)
    )
  }

  private highestSeq(origin: string): number {
    return this.assigned.get(origin) ?? this.index.originCount(origin)
  }

  private segmentPath(segment: number): string {
    return join(this.options.dir, segmentName(segment))
  }

  private assertRunning(what: string, options?: AbortOptions): void {
    if (this.state !== 'running') throw new NotRunningError('the file store')
    if (options?.signal?.aborted)
      throw new AbortedError(`file store ${what}`, { cause: options.signal.reason })
  }

  private assertWritable(what: string, options?: AbortOptions): void {
    this.assertRunning(what, options)
    if (this.failure) throw this.failure
  }
}

/** The file name of segment number `n`. */
export function segmentName(n: number): string {
  return `segment-${String(n).padStart(12, '0')}.log`
}

/** The bytes these bodies take framed. */
function framedBytes(bodies: readonly Uint8Array[]): number {
  let bytes = 0
  for (const body of bodies) bytes += RECORD_HEADER_BYTES + body.length
  return bytes
}

/** One call's records go in one commit, which has a hard limit. */
function assertCommitSize(bodies: readonly Uint8Array[]): void {
  const bytes = framedBytes(bodies)
  if (bytes > MAX_COMMIT_BYTES)
    throw new PayloadTooLargeError(`${bodies.length} records in one call`, bytes, MAX_COMMIT_BYTES)
}

/** An event's msgpack body (the encoder's shared buffer: use or copy it at once). */
function encodeEvent(event: EventRecord): Uint8Array {
  const body = encodeEventBody(event)
  if (body.length > MAX_RECORD_BYTES)
    throw new PayloadTooLargeError('an event record', body.length, MAX_RECORD_BYTES)
  return body
}

interface ReadRun {
  segment: number
  start: number
  end: number
  items: Array<{ slot: number; gid: number; location: RecordLocation }>
}

/** Groups record reads that sit close together in one segment into single reads. */
function planReads(items: ReadRun['items']): ReadRun[] {
  const sorted = [...items].sort(
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

/** Segment files open for reading; past a limit, the least recently used idle one is closed. */
class SegmentReaders {
  private readonly open = new Map<number, { handle: Promise<FileHandle>; users: number }>()
  private closed = false

  constructor(private readonly dir: string) {}

  /** `length` bytes at `position` of a segment (fewer only if the file is shorter). */
  async read(segment: number, position: number, length: number): Promise<Buffer> {
    // Once closed, a read would open a file that nothing closes (and after the lock is gone).
    if (this.closed) throw new NotRunningError('the file store')
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

  /** Closes every segment; later reads are refused. */
  async closeAll(): Promise<void> {
    this.closed = true
    const entries = [...this.open.values()]
    this.open.clear()
    await Promise.allSettled(entries.map(async (entry) => (await entry.handle).close()))
  }

  private acquire(segment: number): { handle: Promise<FileHandle>; users: number } {
    let entry = this.open.get(segment)
    if (entry) {
      this.open.delete(segment) // re-inserted below: most recently used last
    } else {
      const handle = open(join(this.dir, segmentName(segment)), 'r')
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

/** A map that keeps its `capacity` most recently added entries (first in, first out). */
class RecentCache<K, V> {
  private readonly map = new Map<K, V>()
  private readonly order: K[] = []
  private next = 0

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    return this.map.get(key)
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return
    if (this.map.has(key)) {
      this.map.set(key, value) // replaced in place: keeps its turn to leave
      return
    }
    if (this.order.length === this.capacity) this.map.delete(this.order[this.next]!)
    this.order[this.next] = key
    this.next = (this.next + 1) % this.capacity
    this.map.set(key, value)
  }

  clear(): void {
    this.map.clear()
    this.order.length = 0
    this.next = 0
  }
}
