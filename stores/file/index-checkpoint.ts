// The index checkpoint: the whole event index, written to one file every so often so a
// restart replays only the segments after it. This file is the one place that knows its
// format.
//
//   file   := magic "AWI1" (4 bytes) | bodyLength u32 LE | bodyCrc u32 LE | body
//   body   := msgpack map: version, endianness, segment, offset (the log position it covers),
//             count, columns (the index's 7 typed-array columns as raw bytes, in this
//             machine's byte order), origins, types, actorTypeNos, actorIds, gidCounts,
//             allGids (every actor's gids, one after another), snapshots (tuples)
//
// It is derived data: the segments hold everything it says, so a missing or damaged
// checkpoint only costs a full replay. It is written whole, to a temporary file that is
// fsynced and renamed into place.
import { decode, encode } from '@msgpack/msgpack'
import { readFile, stat } from 'node:fs/promises'
import { endianness } from 'node:os'
import { join } from 'node:path'
import { StoreCorruptError, type Logger } from '../../core/index.js'
import { writeFileDurably } from '../../support/durable-file.js'
import { crc32 } from './crc32.js'
import { EventIndex, type IndexColumns, type LogPosition, type SnapshotRef } from './event-index.js'
import { isCount } from './record-codec.js'
import { MAX_RECORD_BYTES, RECORD_HEADER_BYTES } from './segment-format.js'

/** Name of the index checkpoint in the data dir. */
export const CHECKPOINT_FILE = 'index.ckpt'

const CHECKPOINT_MAGIC = Buffer.from('AWI1', 'latin1')
const CHECKPOINT_HEADER_BYTES = 12
const CHECKPOINT_VERSION = 1
/** The columns in the order the body lists them. */
const COLUMN_ORDER = [
  'segments',
  'offsets',
  'lengths',
  'walls',
  'logicals',
  'originNos',
  'seqs',
] as const satisfies ReadonlyArray<keyof IndexColumns>

/** An index and the log position it covers (the segments after it are replayed). */
export interface IndexCheckpoint {
  readonly index: EventIndex
  readonly position: LogPosition
}

/** The checkpoint file's bytes for `index`, which covers the log up to `position`. */
export function encodeIndexCheckpoint(index: EventIndex, position: LogPosition): Buffer {
  const { count, columns, origins, actors, snapshots: refs } = index.contents()
  const snapshots: unknown[] = []
  for (const [i, s] of refs)
    snapshots.push([
      i,
      s.segment,
      s.offset,
      s.length,
      s.at.hlc.wall,
      s.at.hlc.logical,
      s.at.origin,
      s.at.seq,
      s.eventCount,
    ])
  const body = encode({
    version: CHECKPOINT_VERSION,
    endianness: endianness(),
    segment: position.segment,
    offset: position.offset,
    count,
    columns: COLUMN_ORDER.map((name) => bytesOf(columns[name])),
    origins,
    types: actors.types,
    actorTypeNos: bytesOf(actors.typeNos),
    actorIds: actors.ids,
    gidCounts: bytesOf(actors.gidCounts),
    allGids: bytesOf(actors.gids),
    snapshots,
  })
  const header = Buffer.alloc(CHECKPOINT_HEADER_BYTES)
  CHECKPOINT_MAGIC.copy(header, 0)
  header.writeUInt32LE(body.length, 4)
  header.writeUInt32LE(crc32(body), 8)
  return Buffer.concat([header, body])
}

/**
 * Rebuilds the index from a checkpoint file's bytes. Throws (an `Error` saying what is
 * wrong) when they are not a whole, consistent checkpoint written on a machine like this one.
 */
export function decodeIndexCheckpoint(bytes: Buffer): IndexCheckpoint {
  if (bytes.length < CHECKPOINT_HEADER_BYTES || !bytes.subarray(0, 4).equals(CHECKPOINT_MAGIC))
    throw new Error('not a checkpoint file')
  const body = bytes.subarray(CHECKPOINT_HEADER_BYTES)
  if (bytes.readUInt32LE(4) !== body.length || bytes.readUInt32LE(8) !== crc32(body))
    throw new Error('checksum mismatch')
  const data = decode(body) as Record<string, unknown>
  if (data.version !== CHECKPOINT_VERSION)
    throw new Error(`unknown version ${String(data.version)}`)
  if (data.endianness !== endianness()) throw new Error('written on a machine of other endianness')
  const n = data.count
  const segment = data.segment
  const offset = data.offset
  if (!isCount(n) || !isCount(segment) || !isCount(offset)) throw new Error('bad header fields')
  const rawColumns = data.columns
  if (!Array.isArray(rawColumns) || rawColumns.length !== COLUMN_ORDER.length)
    throw new Error('bad columns')
  const u32 = (value: unknown, length: number) => fromBytes(value, Uint32Array, length)
  const columns: IndexColumns = {
    segments: u32(rawColumns[0], n),
    offsets: u32(rawColumns[1], n),
    lengths: u32(rawColumns[2], n),
    walls: fromBytes(rawColumns[3], Float64Array, n),
    logicals: u32(rawColumns[4], n),
    originNos: u32(rawColumns[5], n),
    seqs: u32(rawColumns[6], n),
  }
  const origins = data.origins
  if (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string'))
    throw new Error('bad origins')
  const types = data.types
  const actorIds = data.actorIds
  if (!Array.isArray(types) || !Array.isArray(actorIds)) throw new Error('bad actors')
  const typeNos = u32(data.actorTypeNos, actorIds.length)
  const gidCounts = u32(data.gidCounts, actorIds.length)
  const gids = u32(data.allGids, n)
  if (!Array.isArray(data.snapshots)) throw new Error('bad snapshots')
  const snapshots = new Map<number, SnapshotRef>()
  for (const s of data.snapshots as unknown[]) {
    if (!Array.isArray(s) || s.length !== 9) throw new Error('bad snapshot')
    const [i, seg, off, len, wall, logical, origin, seq, eventCount] = s as unknown[]
    if (!isCount(i) || i >= actorIds.length || typeof origin !== 'string')
      throw new Error('bad snapshot')
    if (![seg, off, len, wall, logical, seq, eventCount].every(isCount))
      throw new Error('bad snapshot')
    const ref: SnapshotRef = {
      segment: seg as number,
      offset: off as number,
      length: len as number,
      at: { hlc: { wall: wall as number, logical: logical as number }, origin, seq: seq as number },
      eventCount: eventCount as number,
    }
    if (!isRecordBefore(ref.segment, ref.offset, ref.length, { segment, offset }))
      throw new Error('a snapshot lies past the log')
    snapshots.set(i, ref)
  }
  checkEventLocations(columns, n, { segment, offset })
  const index = EventIndex.fromContents(
    {
      count: n,
      columns,
      origins,
      actors: { types, typeNos, ids: actorIds as string[], gidCounts, gids },
      snapshots,
    },
    true, // the columns were just copied out of the file's bytes: nobody else holds them
  )
  return { index, position: { segment, offset } }
}

/**
 * Writes `index`, which covers the log up to `position`, as the checkpoint of `dir`. The
 * index is encoded before this returns (so it may change right after), then written durably.
 */
export async function writeIndexCheckpoint(
  dir: string,
  index: EventIndex,
  position: LogPosition,
): Promise<void> {
  const bytes = encodeIndexCheckpoint(index, position)
  await writeFileDurably(join(dir, CHECKPOINT_FILE), bytes)
}

/**
 * The checkpoint of `dir`, or undefined when there is none or it does not check out (then
 * with a warning: the caller replays every segment instead).
 */
export async function loadIndexCheckpoint(
  dir: string,
  logger: Logger,
): Promise<IndexCheckpoint | undefined> {
  const file = join(dir, CHECKPOINT_FILE)
  let bytes: Buffer
  try {
    // A directory or a pipe there would fail the read or never end it: told apart first.
    if (!(await stat(file)).isFile())
      throw new StoreCorruptError(
        `store file ${file} is not a regular file (a directory, a device or a pipe). It is ` +
          `the index checkpoint, derived from the segments: remove it and start again (the ` +
          `store replays its segments and writes a new one).`,
        { file, offset: 0 },
      )
    bytes = await readFile(file)
  } catch (error) {
    if (error instanceof StoreCorruptError) throw error
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StoreCorruptError(
      `store file ${file} cannot be read (${(error as Error).message}). It is the index ` +
        `checkpoint, derived from the segments: fix its permissions, or remove it and start again.`,
      { file, offset: 0, cause: error },
    )
  }
  try {
    return decodeIndexCheckpoint(bytes)
  } catch (error) {
    logger.warn('ignoring a damaged index checkpoint; replaying every segment instead', {
      file,
      error,
    })
    return undefined
  }
}

/**
 * Checks that every event lies before `position`, each after the one before it (the order
 * they became durable), as a record of a possible length: the index trusts these locations
 * when it reads, so a checkpoint that holds others (crafted, or encoded by a broken writer)
 * must be refused here, not met as a read of gigabytes later.
 */
function checkEventLocations(columns: IndexColumns, n: number, position: LogPosition): void {
  const { segments, offsets, lengths, walls } = columns
  let segment = 0
  let end = 0
  // By column, with no object per event: a checkpoint holds millions of them.
  for (let gid = 0; gid < n; gid++) {
    const at = segments[gid]!
    const offset = offsets[gid]!
    const length = lengths[gid]!
    if (!isRecordBefore(at, offset, length, position))
      throw new Error(`event ${gid} lies past the log`)
    if (at < segment || (at === segment && offset < end))
      throw new Error(`event ${gid} overlaps the one before it`)
    segment = at
    end = offset + length
    if (!isCount(walls[gid])) throw new Error(`event ${gid} has a malformed hlc`)
  }
}

/** A record of a length the store can write, ending at or before `position`. */
function isRecordBefore(
  segment: number,
  offset: number,
  length: number,
  position: LogPosition,
): boolean {
  return (
    segment >= 1 &&
    length > RECORD_HEADER_BYTES &&
    length <= RECORD_HEADER_BYTES + MAX_RECORD_BYTES &&
    (segment < position.segment ||
      (segment === position.segment && offset + length <= position.offset))
  )
}

function bytesOf(column: Uint32Array | Float64Array): Uint8Array {
  return new Uint8Array(column.buffer, column.byteOffset, column.byteLength)
}

function fromBytes<T extends Uint32Array | Float64Array>(
  value: unknown,
  type: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  length: number,
): T {
  if (!(value instanceof Uint8Array) || value.length !== length * type.BYTES_PER_ELEMENT)
    throw new Error('a column has the wrong size')
  // Copy into a fresh, aligned buffer: the decoded bytes are a view at any offset.
  const aligned = new Uint8Array(value.length)
  aligned.set(value)
  return new type(aligned.buffer)
}
