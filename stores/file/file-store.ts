// The file store: the embedded default event store, in one data dir on local disk. This
// file is its facade (the EventStore port); each role lives in a file of its own:
//
//   segment-format.ts    the on-disk layout: numbered segments of checksummed commits
//   record-codec.ts      events and snapshots as msgpack record bodies
//   group-commit.ts      the writer: appends batched into one durable write
//   event-index.ts       what memory holds: per event its merge key and record location
//                        (never its payload: payloads are read back through a small cache),
//                        per origin the events in seq order, per actor in merge order
//   actor-gids.ts        the per-actor lists of events, numbered actors in one pool
//   index-checkpoint.ts  the index written to `index.ckpt` so a restart replays only the tail
//   recovery.ts          start: load the checkpoint, replay and check the tail, cut a torn write
//   segment-reader.ts    reading records back from segments
//   snapshot-records.ts  actor snapshots: checked and encoded, indexed once durable, read back
//   data-dir-lock.ts     the lock that refuses a second store on the dir
//
// Seqs are given when a call joins the writer's queue, so concurrent appends never collide;
// reads and the version vector only ever see records that are durable (indexed once their
// commit is). Every `checkpointEvery` events (or an eighth of the index, when that is more)
// and on stop, the whole index is checkpointed with the log position it covers.
import {
  gaplessIngest,
  NotRunningError,
  type AbortOptions,
  type EventDraft,
  type EventRecord,
  type EventStore,
  type EventStoreComponents,
  type Logger,
  type ReadActorOptions,
  type Snapshot,
  type VersionVector,
  notRunningMessage,
} from '../../core/index.js'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js'
import { EventIndex } from './event-index.js'
import {
  GroupCommitWriter,
  SnapshotWrite,
  type CommitItem,
  type WriterCounters,
} from './group-commit.js'
import { writeIndexCheckpoint } from './index-checkpoint.js'
import { parseFileStoreInit, type FileStoreInit, type FileStoreOptions } from './options.js'
import { RecentCache } from './recent-cache.js'
import { assertCommitSize, encodeEvent } from './record-limits.js'
import { recoverLog } from './recovery.js'
import { corrupt, type RecordLocation } from './segment-format.js'
import { SegmentReader } from './segment-reader.js'
import { SnapshotRecords } from './snapshot-records.js'
import { throwIfAborted } from '../../support/abort.js'
import { makeDirectory } from '../../support/make-directory.js'

/** With many events, a checkpoint is written once the events since the last one reach 1/this of all. */
const CHECKPOINT_GROWTH = 8

/**
 * The file store, the embedded default: append-only checksummed segments in `init.dir`,
 * group commit (an append resolves once the commit that holds it is durable), an index checkpoint
 * so a restart replays only the tail, crash recovery and a lock against a second process.
 * Throws `ConfigError` naming the field when `init` is invalid.
 */
export function fileStore(
  init: FileStoreInit,
): (components: EventStoreComponents) => FileEventStore {
  const options = parseFileStoreInit(init)
  return (components) => new FileEventStore(options, components)
}

/** Counters of the store, for metrics and tests. */
export interface FileStoreStats extends Readonly<WriterCounters> {
  /** The number of the segment being written. */
  readonly segment: number
  /** Events held (durable). */
  readonly events: number
  /** Index checkpoints written. */
  readonly checkpoints: number
}

type State = 'stopped' | 'running' | 'stopping'

/** The file store (see the top of this file for its parts). Create it with `fileStore(init)`. */
export class FileEventStore implements EventStore {
  private readonly logger: Logger
  private state: State = 'stopped'
  private starting?: Promise<void>
  private stopping?: Promise<void>
  private lock?: DataDirLock
  private index = new EventIndex()
  /** Highest seq given per origin, counting queued (not yet durable) records. */
  private readonly assigned = new Map<string, number>()
  private readonly writer: GroupCommitWriter
  private checkpointing?: Promise<void>
  private sinceCheckpoint = 0
  private checkpoints = 0
  private reader: SegmentReader
  /** Read calls under way (each whole call, not its single reads): stop() waits for them. */
  private readonly reads = new Set<Promise<unknown>>()
  private readonly cache: RecentCache<number, EventRecord>
  private readonly snapshots: SnapshotRecords

  constructor(
    private readonly options: FileStoreOptions,
    private readonly components: EventStoreComponents,
  ) {
    this.logger = components.logger.child({ store: 'file', dir: options.dir })
    this.reader = new SegmentReader(options.dir)
    this.cache = new RecentCache(options.cacheEvents)
    this.snapshots = new SnapshotRecords(this.index, this.reader, this.logger)
    this.writer = new GroupCommitWriter(options, this.logger, (items, locations) =>
      this.indexDurable(items, locations),
    )
  }

  /** The store's counters. */
  stats(): FileStoreStats {
    return {
      ...this.writer.counters,
      checkpoints: this.checkpoints,
      segment: this.writer.position().segment,
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
      await this.writer.commit([record], [body])
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
    await this.writer.commit(records, bodies)
    return records
  }

  async ingest(events: readonly EventRecord[], options?: AbortOptions): Promise<EventRecord[]> {
    this.assertWritable('ingest', options)
    const { accepted, highestSeqs } = gaplessIngest(events, (origin) => this.highestSeq(origin))
    if (accepted.length === 0) return []
    const bodies = accepted.map((event) => encodeEvent(event).slice())
    assertCommitSize(bodies)
    for (const [origin, seq] of highestSeqs) this.assigned.set(origin, seq)
    await this.writer.commit(accepted, bodies)
    return accepted
  }

  async readActor(
    actorType: string,
    actorId: string,
    options?: ReadActorOptions,
  ): Promise<EventRecord[]> {
    this.assertRunning('readActor', options)
    const actor = this.index.actor(actorType, actorId)
    if (actor === undefined) return []
    const from = options?.after ? this.index.countUpTo(actor, options.after) : 0
    return this.track(this.readEvents(this.index.actorGids(actor, from)))
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
    const body = this.snapshots.encode(snapshot)
    if (body) await this.writer.commit([new SnapshotWrite(snapshot)], [body])
  }

  async loadSnapshot(
    actorType: string,
    actorId: string,
    options?: AbortOptions,
  ): Promise<Snapshot | undefined> {
    this.assertRunning('loadSnapshot', options)
    return this.track(this.snapshots.read(actorType, actorId))
  }

  // ---- start and stop ----

  private async open(): Promise<void> {
    const { dir } = this.options
    await makeDirectory(dir)
    this.lock = await acquireDataDirLock(dir, this.logger)
    try {
      this.reader = new SegmentReader(dir)
      this.assigned.clear()
      this.cache.clear()
      const recovered = await recoverLog({
        options: this.options,
        logger: this.logger,
        components: this.components,
      })
      this.index = recovered.index
      this.snapshots.reset(this.index, this.reader)
      await this.writer.open(recovered.end, recovered.empty)
      this.sinceCheckpoint = recovered.replayed
      this.state = 'running'
      this.logger.info('file store started', {
        events: this.index.count,
        segment: recovered.end.segment,
        segmentSize: recovered.end.offset,
      })
    } catch (error) {
      await this.releaseHandles()
      throw error
    }
  }

  private async close(): Promise<void> {
    await this.writer.drain()
    await Promise.allSettled([...this.reads])
    try {
      if (this.checkpointing) await this.checkpointing
      if (this.sinceCheckpoint > 0 && !this.writer.failure) await this.checkpoint()
    } catch (error) {
      // Only costs a longer replay at the next start: the segments hold everything.
      this.logger.warn('could not write the index checkpoint at stop', { error })
    } finally {
      await this.releaseHandles()
    }
    this.logger.info('file store stopped', { events: this.index.count })
  }

  private async releaseHandles(): Promise<void> {
    await this.writer.close()
    await this.reader.closeAll()
    await this.lock?.release()
    this.lock = undefined
  }

  // ---- indexing what became durable ----

  /** Indexes the records of a commit that just became durable; checkpoints when one is due. */
  private indexDurable(items: readonly CommitItem[], locations: readonly RecordLocation[]): void {
    let events = 0
    items.forEach((item, i) => {
      const location = locations[i]!
      if (item instanceof SnapshotWrite) {
        this.snapshots.indexDurable(item.snapshot, location)
      } else {
        const gid = this.index.add(item, location.segment, location.offset, location.length)
        this.cache.set(gid, item)
        events++
      }
    })
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

  /** Writes the index and the position it covers to the checkpoint file (atomically). */
  private async checkpoint(): Promise<void> {
    // Encoded now, synchronously, by writeIndexCheckpoint: the index and the position must match.
    const written = writeIndexCheckpoint(this.options.dir, this.index, this.writer.position())
    this.sinceCheckpoint = 0
    await written
    this.checkpoints++
  }

  // ---- reads ----

  /** The events of these gids, from the cache or read back from their segments. */
  private async readEvents(gids: number[]): Promise<EventRecord[]> {
    const events = new Array<EventRecord>(gids.length)
    const missing: Array<{ slot: number; gid: number }> = []
    gids.forEach((gid, slot) => {
      const hit = this.cache.get(gid)
      if (hit) events[slot] = hit
      else missing.push({ slot, gid })
    })
    const locations = missing.map(({ gid }) => this.index.location(gid))
    const records = await this.reader.readRecords(locations)
    missing.forEach(({ slot, gid }, i) => {
      const record = records[i]!
      const expected = this.index.identity(gid)
      if (
        record.kind !== 'event' ||
        record.event.origin !== expected.origin ||
        record.event.seq !== expected.seq
      )
        throw corrupt(
          this.reader.path(locations[i]!.segment),
          locations[i]!.offset,
          `not the event the index names (${expected.origin}:${expected.seq})`,
        )
      events[slot] = record.event
      this.cache.set(gid, record.event)
    })
    return events
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

  private highestSeq(origin: string): number {
    return this.assigned.get(origin) ?? this.index.originCount(origin)
  }

  private assertRunning(what: string, options?: AbortOptions): void {
    if (this.state !== 'running') throw new NotRunningError(notRunningMessage('the file store'))
    throwIfAborted(options?.signal, `file store ${what}`)
  }

  private assertWritable(what: string, options?: AbortOptions): void {
    this.assertRunning(what, options)
    if (this.writer.failure) throw this.writer.failure
  }
}
