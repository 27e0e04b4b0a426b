// Hostile or damaged files in a file store's data dir, beyond torn writes and flipped bytes
// (file-store-faults.spec.ts): an index checkpoint whose checksum holds but whose contents do
// not match the segments (copied from another data dir, or crafted), files of the wrong kind
// where a segment, the checkpoint or the lock should be, and records replayed out of order.
// Each must give a typed error naming the file, or (for the checkpoint, derived data) a
// warning and a full replay; never a crash, a hang, wrong reads or lost writes.
import { decode, encode } from '@msgpack/msgpack'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { systemClock } from '../../../core/clock.js'
import { StoreCorruptError, StoreLockedError } from '../../../core/errors.js'
import type { EventDraft, EventRecord } from '../../../core/event.js'
import { streamLogger } from '../../../core/logger.js'
import { Taps } from '../../../core/taps.js'
import { crc32 } from '../../../stores/file/crc32.js'
import {
  CHECKPOINT_FILE,
  fileStore,
  LOCK_FILE,
  segmentName,
  type FileEventStore,
  type FileStoreInit,
} from '../../../stores/file/index.js'

const CHECKPOINT_HEADER_BYTES = 12
/** The index of the `lengths` column in a checkpoint's `columns` (index-checkpoint.ts). */
const LENGTHS_COLUMN = 2
const OFFSETS_COLUMN = 1

describe('file store: hostile files in the data dir', function () {
  this.timeout(30_000)
  const dirs: string[] = []
  const stores: FileEventStore[] = []

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-file-hostile-'))
    dirs.push(dir)
    return dir
  }

  function openStore(dir: string, init: Omit<FileStoreInit, 'dir'> = {}) {
    const logs: string[] = []
    const logger = streamLogger({ level: 'debug', write: (line) => logs.push(line) })
    const store = fileStore({ dir, checkpointEvery: 1_000_000, ...init })({
      clock: systemClock(),
      logger,
      taps: new Taps(),
      nodeId: 'node-a',
    })
    stores.push(store)
    return { store, logs }
  }

  /** A data dir holding 12 events of actors `<prefix>0..2`, stopped (so with a checkpoint). */
  /** Opens `dir` under `verify`: the checkpoint is ignored with a warning, and every event is read back. */
  async function expectCheckpointIgnored(
    dir: string,
    written: readonly EventRecord[],
    verify: 'all' | 'tail',
    what: string,
  ): Promise<void> {
    const { store, logs } = openStore(dir, { verify, cacheEvents: 0 })
    await store.start()
    try {
      assert.ok(
        logs.some((l) => l.includes('ignoring a damaged index checkpoint')),
        what,
      )
      await expectHolds(store, written)
    } finally {
      await store.stop()
    }
  }

  async function filled(prefix: string): Promise<{ dir: string; written: EventRecord[] }> {
    const dir = await tempDir()
    const { store } = openStore(dir)
    await store.start()
    const written: EventRecord[] = []
    for (let i = 0; i < 12; i++)
      written.push(...(await store.append([draft(`${prefix}${i % 3}`, i)])))
    await store.stop()
    return { dir, written }
  }

  async function startError(store: FileEventStore): Promise<unknown> {
    const error = await store.start().then(
      () => new Error('start() succeeded'),
      (e: unknown) => e,
    )
    await store.stop()
    return error
  }

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.stop()
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })

  describe('an index checkpoint whose checksum holds but that does not match the segments', () => {
    for (const verify of ['all', 'tail'] as const) {
      it(`one copied from another data dir of the same shape: ignored with a warning, every read from the segments (verify: ${verify})`, async () => {
        const mine = await filled('b')
        const other = await filled('a') // same origin, seqs, sizes and offsets; other actors
        await copyFile(join(other.dir, CHECKPOINT_FILE), join(mine.dir, CHECKPOINT_FILE))
        const { store, logs } = openStore(mine.dir, { verify, cacheEvents: 0 })
        await store.start()
        assert.ok(
          logs.some((l) => l.includes('does not match the segments')),
          `no warning in:\n${logs.join('\n')}`,
        )
        await expectHolds(store, mine.written)
        assert.deepEqual(await store.readActor('thing', 'a0'), [], "the other dir's actor")
      })
    }

    it('one whose record lengths are enormous: ignored, never read (a read of 4 GB aborted the process)', async () => {
      const { dir, written } = await filled('c')
      const original = await readFile(join(dir, CHECKPOINT_FILE))
      for (const verify of ['all', 'tail'] as const) {
        await writeFile(join(dir, CHECKPOINT_FILE), original) // each stop writes a sound one
        await rewriteCheckpoint(dir, (body) => {
          const lengths = new Uint32Array(body.count as number).fill(0xfffffff0)
          ;(body.columns as Uint8Array[])[LENGTHS_COLUMN] = new Uint8Array(lengths.buffer)
        })
        await expectCheckpointIgnored(dir, written, verify, verify)
      }
    })

    it('one whose events lie past the position it covers, or overlap: ignored', async () => {
      const { dir, written } = await filled('d')
      const original = await readFile(join(dir, CHECKPOINT_FILE))
      for (const [what, edit] of [
        ['past its position', (offsets: Uint32Array) => (offsets[offsets.length - 1] = 1 << 30)],
        ['overlapping', (offsets: Uint32Array) => (offsets[3] = offsets[2]!)],
      ] as const) {
        await writeFile(join(dir, CHECKPOINT_FILE), original)
        await rewriteCheckpoint(dir, (body) => {
          const columns = body.columns as Uint8Array[]
          const offsets = u32(columns[OFFSETS_COLUMN]!)
          edit(offsets)
          columns[OFFSETS_COLUMN] = new Uint8Array(offsets.buffer)
        })
        await expectCheckpointIgnored(dir, written, 'tail', what)
      }
    })

    it('one whose last event is right but an earlier one is not where it says: ignored with verify: all', async () => {
      const { dir, written } = await filled('e')
      await rewriteCheckpoint(dir, (body) => {
        // Events 4 and 5 swap actors' places: each still a record, in order, but not theirs.
        const columns = body.columns as Uint8Array[]
        const lengths = u32(columns[LENGTHS_COLUMN]!)
        const offsets = u32(columns[OFFSETS_COLUMN]!)
        offsets[4] = offsets[4]! + 1
        lengths[4] = lengths[4]! - 1
        columns[LENGTHS_COLUMN] = new Uint8Array(lengths.buffer)
        columns[OFFSETS_COLUMN] = new Uint8Array(offsets.buffer)
      })
      const { store, logs } = openStore(dir, { verify: 'all', cacheEvents: 0 })
      await store.start()
      assert.ok(
        logs.some((l) => l.includes('does not match the segments')),
        `no warning in:\n${logs.join('\n')}`,
      )
      await expectHolds(store, written)
    })

    it('one whose snapshot points at an event record: the snapshot is skipped with a warning, the actor folds its events (verify: tail)', async () => {
      const { dir, written } = await filled('s')
      const { store: writer } = openStore(dir)
      await writer.start()
      const mine = written.filter((e) => e.actorId === 's0')
      await writer.saveSnapshot({
        actorType: 'thing',
        actorId: 's0',
        state: { n: mine.length },
        at: mine.at(-1)!,
        eventCount: mine.length,
      })
      // One more event, so the stop writes a checkpoint (one holding the snapshot).
      const more = await writer.append([draft('s1', 100)])
      await writer.stop()
      await rewriteCheckpoint(dir, (body) => {
        const columns = body.columns as Uint8Array[]
        const [snapshot] = body.snapshots as unknown[][]
        assert.ok(snapshot, 'the checkpoint holds the snapshot')
        snapshot[2] = u32(columns[OFFSETS_COLUMN]!)[0]
        snapshot[3] = u32(columns[LENGTHS_COLUMN]!)[0]
      })
      const { store, logs } = openStore(dir, { verify: 'tail', cacheEvents: 0 })
      await store.start()
      assert.equal(await store.loadSnapshot('thing', 's0'), undefined)
      assert.ok(
        logs.some((l) => l.includes('skipping a snapshot')),
        logs.join('\n'),
      )
      await expectHolds(store, [...written, ...more])
    })

    it('one that covers more than the segments hold is still refused: its events are lost', async () => {
      const { dir } = await filled('f')
      await writeFile(join(dir, segmentName(1)), '')
      const error = await startError(openStore(dir).store)
      assert.ok(error instanceof StoreCorruptError, String(error))
      assert.match(error.message, /ends before the index checkpoint's position/)
    })
  })

  describe('a file of the wrong kind where the store expects one', () => {
    const kinds: Array<[string, (path: string) => Promise<void>]> = [
      ['a directory', (path) => mkdir(path)],
      ['a symlink to /dev/zero (every write would vanish)', (path) => symlink('/dev/zero', path)],
      ['a dangling symlink', (path) => symlink(join(tmpdir(), 'anywhere-no-such-file'), path)],
      ['a symlink loop', (path) => symlink(path, path)],
      ['a named pipe (a read would never end)', (path) => mkfifo(path)],
    ]

    for (const [what, make] of kinds) {
      it(`the newest segment is ${what}: StoreCorruptError naming it, nothing written`, async () => {
        const { dir } = await filled('g')
        const segment = join(dir, segmentName(2))
        await make(segment)
        const error = await startError(openStore(dir).store)
        assert.ok(error instanceof StoreCorruptError, String(error))
        assert.equal(error.file, segment)
        assert.match(error.message, new RegExp(segmentName(2)))
        assert.ok((await stat(join(dir, segmentName(1)))).isFile())
      })
    }

    for (const [what, make] of kinds.slice(0, 1).concat(kinds.slice(4))) {
      it(`the index checkpoint is ${what}: StoreCorruptError naming it and saying it can go`, async () => {
        const { dir } = await filled('h')
        await rm(join(dir, CHECKPOINT_FILE))
        await make(join(dir, CHECKPOINT_FILE))
        const error = await startError(openStore(dir).store)
        assert.ok(error instanceof StoreCorruptError, String(error))
        assert.equal(error.file, join(dir, CHECKPOINT_FILE))
        assert.match(error.message, /remove it/)
      })
    }

    it('a segment larger than the store ever writes (offsets are 32-bit): refused without reading it', async () => {
      const { dir } = await filled('k')
      const segment = join(dir, segmentName(2))
      await writeFile(segment, '')
      await truncate(segment, 2 ** 32 + 1024) // sparse: no disk used
      const began = Date.now()
      const error = await startError(openStore(dir).store)
      assert.ok(error instanceof StoreCorruptError, String(error))
      assert.equal(error.file, segment)
      assert.match(error.message, /larger than the store writes one/)
      assert.ok(Date.now() - began < 10_000, 'refused without scanning 4 GB of zeros')
    })

    for (const [what, make] of kinds.slice(0, 1).concat(kinds.slice(4))) {
      it(`the lock file is ${what}: StoreLockedError saying it cannot be read, not a race`, async () => {
        const { dir } = await filled('i')
        await make(join(dir, LOCK_FILE))
        const error = await startError(openStore(dir).store)
        assert.ok(error instanceof StoreLockedError, String(error))
        assert.match(error.message, /cannot be read \(not a regular file/)
      })
    }
  })

  describe('records out of order', () => {
    it('a commit replayed again at the end of the log, or a segment copied as the next one: refused, naming where', async () => {
      for (const where of ['appended', 'next segment'] as const) {
        const { dir } = await filled('j')
        const first = await readFile(join(dir, segmentName(1)))
        const commit = first.subarray(0, 16 + first.readUInt32LE(4))
        if (where === 'appended') await appendFile(join(dir, segmentName(1)), commit)
        else await writeFile(join(dir, segmentName(2)), first)
        const error = await startError(openStore(dir).store)
        assert.ok(error instanceof StoreCorruptError, `${where}: ${String(error)}`)
        assert.match(error.message, /event node-a:1 out of order \(expected seq 13\)/, where)
        const file = join(dir, segmentName(where === 'appended' ? 1 : 2))
        assert.equal(error.file, file, where)
        assert.equal(error.offset, where === 'appended' ? first.length + 16 : 16, where)
      }
    })
  })
})

/** Every event written reads back, by origin and by actor (from the segments: no cache). */
async function expectHolds(store: FileEventStore, written: readonly EventRecord[]): Promise<void> {
  assert.deepEqual(await store.versionVector(), { 'node-a': written.length })
  assert.deepEqual(await store.readOrigin('node-a', 1, written.length + 5), written)
  for (const actorId of new Set(written.map((e) => e.actorId)))
    assert.deepEqual(
      await store.readActor('thing', actorId),
      written.filter((e) => e.actorId === actorId),
      actorId,
    )
}

/** Decodes the checkpoint, lets `edit` change its body, writes it back with valid checksums. */
async function rewriteCheckpoint(
  dir: string,
  edit: (body: Record<string, unknown>) => void,
): Promise<void> {
  const file = join(dir, CHECKPOINT_FILE)
  const bytes = await readFile(file)
  const body = decode(bytes.subarray(CHECKPOINT_HEADER_BYTES)) as Record<string, unknown>
  edit(body)
  const encoded = encode(body)
  const header = Buffer.alloc(CHECKPOINT_HEADER_BYTES)
  header.write('AWI1', 0, 'latin1')
  header.writeUInt32LE(encoded.length, 4)
  header.writeUInt32LE(crc32(encoded), 8)
  await writeFile(file, Buffer.concat([header, encoded]))
}

/** A copy of a checkpoint column's bytes as numbers (the decoded bytes are a view at any offset). */
function u32(column: Uint8Array): Uint32Array {
  return new Uint32Array(new Uint8Array(column).buffer)
}

async function mkfifo(path: string): Promise<void> {
  await promisify(execFile)('mkfifo', [path])
}

function draft(actorId: string, i: number): EventDraft {
  return {
    actorType: 'thing',
    actorId,
    origin: 'node-a',
    hlc: { wall: 1_000 + i, logical: 0 },
    type: 'changed',
    payload: { n: i },
  }
}
