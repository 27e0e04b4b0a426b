// Actor snapshots in the file store: checked and encoded for a commit, pointed at by the
// index once durable, read back through a small cache. Snapshots are derived data: one that
// is stale (folded before an event that has since arrived) or does not decode is dropped,
// and its actor folds its events instead.
import {
  actorAddress,
  eventKey,
  PayloadTooLargeError,
  type Logger,
  type Snapshot,
  tooLargeMessage,
} from '../../core/index.js'
import type { EventIndex, SnapshotRef } from './event-index.js'
import { RecentCache } from './recent-cache.js'
import { encodeSnapshotBody } from './record-codec.js'
import { MAX_RECORD_BYTES, type RecordLocation } from './segment-format.js'
import { warnSkippedSnapshot, type SegmentReader } from './segment-reader.js'

/** Snapshots kept decoded in memory (the most recently saved or loaded). */
const SNAPSHOT_CACHE_ENTRIES = 256
/**
 * After a snapshot of an actor is over MAX_RECORD_BYTES, its next snapshots are refused
 * without encoding until the actor has this many times the events it had then.
 */
const OVERSIZED_SNAPSHOT_GROWTH = 2

/** The snapshots of one file store run, over its index and segment reader. */
export class SnapshotRecords {
  private readonly cache = new RecentCache<string, { ref: SnapshotRef; snapshot: Snapshot }>(
    SNAPSHOT_CACHE_ENTRIES,
  )
  /** Per actor, its last snapshot that was over MAX_RECORD_BYTES: its event count and size. */
  private readonly oversized = new RecentCache<string, { eventCount: number; bytes: number }>(
    SNAPSHOT_CACHE_ENTRIES,
  )

  constructor(
    private index: EventIndex,
    private reader: SegmentReader,
    private readonly logger: Logger,
  ) {}

  /** Starts over with the index and reader of a new run (after recovery). */
  reset(index: EventIndex, reader: SegmentReader): void {
    this.index = index
    this.reader = reader
    this.cache.clear()
    this.oversized.clear()
  }

  /**
   * The record body of `snapshot`, or undefined when it is stale already (it does not count
   * its actor's events up to its key). Throws `PayloadTooLargeError` when it is too large.
   */
  encode(snapshot: Snapshot): Uint8Array | undefined {
    const { actorType, actorId } = snapshot
    const counted = this.index.countUpTo(this.index.actor(actorType, actorId), snapshot.at)
    if (counted !== snapshot.eventCount) return undefined // folded before an event that has since arrived
    const address = actorAddress(actorType, actorId)
    // Encoding a state this large takes long: after one is over the limit, the next ones
    // (the runtime tries again as events come) are refused at once until the actor grows.
    const over = this.oversized.get(address)
    if (over && snapshot.eventCount < over.eventCount * OVERSIZED_SNAPSHOT_GROWTH)
      throw new PayloadTooLargeError(
        tooLargeMessage(
          `the snapshot of ${address} is refused without encoding until the actor has ` +
            `${over.eventCount * OVERSIZED_SNAPSHOT_GROWTH} events: its last one, at ${over.eventCount} events,`,
          over.bytes,
          MAX_RECORD_BYTES,
        ),
      )
    const body = encodeSnapshotBody(snapshot)
    if (body.length > MAX_RECORD_BYTES) {
      this.oversized.set(address, { eventCount: snapshot.eventCount, bytes: body.length })
      throw new PayloadTooLargeError(
        tooLargeMessage(
          `the snapshot of ${address} (${snapshot.eventCount} events)`,
          body.length,
          MAX_RECORD_BYTES,
        ),
      )
    }
    return body
  }

  /** Points the actor at a snapshot whose commit just became durable, if it still counts. */
  indexDurable(snapshot: Snapshot, location: RecordLocation): void {
    const { actorType, actorId } = snapshot
    const ref: SnapshotRef = {
      ...location,
      at: eventKey(snapshot.at),
      eventCount: snapshot.eventCount,
    }
    // Checked again now: an event ingested while this commit ran may have made it stale.
    if (this.index.setSnapshot(actorType, actorId, ref))
      this.cache.set(actorAddress(actorType, actorId), { ref, snapshot })
  }

  /** The snapshot the index names for an actor, or undefined (none, stale or undecodable). */
  async read(actorType: string, actorId: string): Promise<Snapshot | undefined> {
    const actor = this.index.actor(actorType, actorId)
    const ref = this.index.snapshotOf(actor)
    if (actor === undefined || !ref) return undefined
    if (this.index.countUpTo(actor, ref.at) !== ref.eventCount) {
      this.index.dropSnapshot(actor)
      return undefined
    }
    const address = actorAddress(actorType, actorId)
    const cached = this.cache.get(address)
    if (cached?.ref === ref) return cached.snapshot
    const frame = await this.reader.read(ref.segment, ref.offset, ref.length)
    let record
    try {
      record = this.reader.decode(frame, ref)
      if (
        record.kind !== 'snapshot' ||
        record.snapshot.actorType !== actorType ||
        record.snapshot.actorId !== actorId
      )
        throw new Error('not the snapshot the index names')
    } catch (error) {
      // Derived data: the actor folds its events instead, as if it had no snapshot.
      if (this.index.snapshotOf(actor) === ref) this.index.dropSnapshot(actor)
      warnSkippedSnapshot(this.logger, this.reader.path(ref.segment), ref.offset, error)
      return undefined
    }
    this.cache.set(address, { ref, snapshot: record.snapshot })
    return record.snapshot
  }
}
