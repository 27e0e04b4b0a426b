// Faults the file store must survive or refuse: torn tails, flipped bytes, missing
// segments, a second process on the data dir, a failing disk; and what it promises about
// segments, checkpoints and group commit. A "crash" is simulated by copying the segment
// files of a running store: that is exactly what a kill -9 leaves on disk (every
// acknowledged commit has been fsynced; no checkpoint is written at exit).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  appendFile,
  copyFile,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../../../core/clock.js'
import {
  PayloadTooLargeError,
  StoreCorruptError,
  StoreLockedError,
  StoreUnavailableError,
} from '../../../core/errors.js'
import type { EventDraft, EventRecord } from '../../../core/event.js'
import type { Snapshot } from '../../../core/event-store.js'
import { streamLogger } from '../../../core/logger.js'
import { Taps, type TapOf } from '../../../core/taps.js'
import {
  CHECKPOINT_FILE,
  fileStore,
  LOCK_FILE,
  MAX_RECORD_BYTES,
  segmentName,
  type FileEventStore,
  type FileStoreInit,
} from '../../../stores/file/index.js'
import { writeCommitHeader, writeRecordFrame } from '../../../stores/file/segment-format.js'

const COMMIT_HEADER_BYTES = 16
const RECORD_HEADER_BYTES = 8

interface Opened {
  store: FileEventStore
  recovered: Array<TapOf<'store.recovered'>>
  logs: string[]
}

describe('file store: faults and recovery', function () {
  this.timeout(30_000)
  const dirs: string[] = []
  const stores: FileEventStore[] = []

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-file-faults-'))
    dirs.push(dir)
    return dir
  }

  /** Opens a store on `dir`; its `store.recovered` taps and log lines are collected. */
  function openStore(dir: string, init: Omit<FileStoreInit, 'dir'> = {}): Opened {
    const taps = new Taps()
    const recovered: Array<TapOf<'store.recovered'>> = []
    taps.of('store.recovered').subscribe((e) => recovered.push(e))
    const logs: string[] = []
    const logger = streamLogger({ level: 'debug', write: (line) => logs.push(line) })
    const store = fileStore({ dir, checkpointEvery: 1_000_000, ...init })({
      clock: systemClock(),
      logger,
      taps,
      nodeId: 'node-a',
    })
    stores.push(store)
    return { store, recovered, logs }
  }

  async function started(dir: string, init: Omit<FileStoreInit, 'dir'> = {}): Promise<Opened> {
    const opened = openStore(dir, init)
    await opened.store.start()
    return opened
  }

  /** The files a kill -9 would leave: the segments (and a checkpoint, if one was written). */
  async function crashCopy(dir: string): Promise<string> {
    const copy = await tempDir()
    for (const name of await readdir(dir))
      if (name.startsWith('segment-') || name === CHECKPOINT_FILE)
        await copyFile(join(dir, name), join(copy, name))
    return copy
  }

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.stop()
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })

  it('refuses to start on a flipped byte in the middle of a segment, naming file and offset', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    for (let i = 0; i < 40; i++) await store.append([draft(`a${i % 4}`, i)])
    const copy = await crashCopy(dir)
    const file = join(copy, segmentName(1))
    const commits = await commitOffsets(file)
    const victim = commits[20]!
    for (const [where, at] of [
      ['body', victim + COMMIT_HEADER_BYTES + RECORD_HEADER_BYTES + 3],
      ['header length', victim + 5],
    ] as const) {
      await flipByte(file, at)
      const error = await startError(openStore(copy).store)
      assert.ok(error instanceof StoreCorruptError, `${where}: ${String(error)}`)
      assert.equal(error.file, file)
      assert.equal(error.offset, victim)
      assert.match(error.message, new RegExp(`${segmentName(1)}.*byte offset ${victim}`))
      await flipByte(file, at) // undo, for the next case
    }
    // Undone, the copy opens and holds every event.
    const { store: reopened } = await started(copy)
    assert.deepEqual(await reopened.versionVector(), { 'node-a': 40 })
  })

  it('checks commits covered by the checkpoint at start (verify: all, the default), and on read with verify: tail', async () => {
    const dir = await tempDir()
    const { store } = await started(dir, { cacheEvents: 0 })
    for (let i = 0; i < 20; i++) await store.append([draft('x', i)])
    await store.stop() // writes a checkpoint covering everything
    const file = join(dir, segmentName(1))
    const victim = (await commitOffsets(file))[10]!
    await flipByte(file, victim + COMMIT_HEADER_BYTES + RECORD_HEADER_BYTES + 2)

    const opened = await started(dir, { cacheEvents: 0, verify: 'tail' })
    assert.deepEqual(await opened.store.readOrigin('node-a', 1, 10).then(seqs), range(1, 10))
    const error = await opened.store.readActor('thing', 'x').catch((e: unknown) => e)
    assert.ok(error instanceof StoreCorruptError, String(error))
    assert.equal(error.file, file)
    assert.equal(error.offset, victim + COMMIT_HEADER_BYTES) // the record's own offset
    await opened.store.stop()

    const strict = await startError(openStore(dir).store)
    assert.ok(strict instanceof StoreCorruptError, String(strict))
    assert.equal(strict.offset, victim)
  })

  it('truncates a torn last commit at any point, reports it on the taps and keeps the rest', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    for (let i = 0; i < 10; i++)
      await store.append([draft(`t${i % 3}`, i, { i, text: 'x'.repeat(40) })])
    // The last commit holds three events from three concurrent appends.
    await Promise.all([
      store.append([draft('t0', 100)]),
      store.append([draft('t1', 101)]),
      store.append([draft('t2', 102)]),
    ])
    assert.deepEqual(await store.versionVector(), { 'node-a': 13 })
    const pristine = await crashCopy(dir)
    const file = join(pristine, segmentName(1))
    const size = (await stat(file)).size
    const last = (await commitOffsets(file)).at(-1)!
    const expected = await store.readOrigin('node-a', 1, 10)

    const cuts = [
      last + 1,
      last + 5,
      last + COMMIT_HEADER_BYTES,
      last + COMMIT_HEADER_BYTES + 3,
      Math.floor((last + size) / 2),
      size - 1,
    ]
    for (const cut of cuts) {
      const copy = await crashCopy(pristine)
      const segment = join(copy, segmentName(1))
      await truncate(segment, cut)
      const opened = await started(copy)
      assert.deepEqual(
        opened.recovered.map((e) => [e.file, e.truncatedBytes]),
        [[segment, cut - last]],
        `cut at ${cut}`,
      )
      assert.equal((await stat(segment)).size, last)
      assert.deepEqual(await opened.store.versionVector(), { 'node-a': 10 })
      assert.deepEqual(await opened.store.readOrigin('node-a', 1, 100), expected)
      assert.ok(opened.logs.some((l) => l.includes('truncated a torn commit')))
      // Writing goes on where the intact log ends.
      const [next] = await opened.store.append([draft('t0', 200)])
      assert.equal(next!.seq, 11)
      await opened.store.stop()
      const again = await started(copy)
      assert.deepEqual(again.recovered, [])
      assert.deepEqual(await again.store.versionVector(), { 'node-a': 11 })
      await again.store.stop()
    }
  })

  it('treats a zero-filled or checksum-damaged final commit as torn, but not damage before it', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    for (let i = 0; i < 6; i++) await store.append([draft('z', i)])
    const pristine = await crashCopy(dir)
    const size = (await stat(join(pristine, segmentName(1)))).size
    const last = (await commitOffsets(join(pristine, segmentName(1)))).at(-1)!

    // A crash can leave the file longer than what reached the disk, the rest zeros.
    const zeros = await crashCopy(pristine)
    await appendFile(join(zeros, segmentName(1)), Buffer.alloc(4096))
    const a = await started(zeros)
    assert.deepEqual(
      a.recovered.map((e) => e.truncatedBytes),
      [4096],
    )
    assert.deepEqual(await a.store.versionVector(), { 'node-a': 6 })

    // The final commit complete in length but not in content: it never reached the disk whole.
    const partial = await crashCopy(pristine)
    await flipByte(join(partial, segmentName(1)), size - 2)
    const b = await started(partial)
    assert.deepEqual(
      b.recovered.map((e) => e.truncatedBytes),
      [size - last],
    )
    assert.deepEqual(await b.store.versionVector(), { 'node-a': 5 })

    // Zeros after a damaged commit that is not the last one do not make it a torn tail.
    const middle = await crashCopy(pristine)
    const commits = await commitOffsets(join(middle, segmentName(1)))
    await flipByte(join(middle, segmentName(1)), commits[2]! + COMMIT_HEADER_BYTES + 9)
    await appendFile(join(middle, segmentName(1)), Buffer.alloc(100))
    const error = await startError(openStore(middle).store)
    assert.ok(error instanceof StoreCorruptError, String(error))
    assert.equal(error.offset, commits[2])
  })

  it('refuses damage at the end of a segment that is not the newest', async () => {
    const dir = await tempDir()
    const { store } = await started(dir, { segmentBytes: 1024 })
    for (let i = 0; i < 40; i++) await store.append([draft('r', i, { pad: 'p'.repeat(30) })])
    assert.ok(store.stats().segment >= 3)
    const copy = await crashCopy(dir)
    const first = join(copy, segmentName(1))
    const last = (await commitOffsets(first)).at(-1)!
    await truncate(first, last + 7)
    const error = await startError(openStore(copy).store)
    assert.ok(error instanceof StoreCorruptError, String(error))
    assert.equal(error.file, first)
    assert.equal(error.offset, last)

    const missing = await crashCopy(dir)
    await unlink(join(missing, segmentName(2)))
    const gap = await startError(openStore(missing).store)
    assert.ok(gap instanceof StoreCorruptError, String(gap))
    assert.match(gap.message, /missing segment 2/)
  })

  it('rolls segments at the size limit and reopens across them, with and without a checkpoint', async () => {
    const dir = await tempDir()
    const segmentBytes = 2048
    const { store } = await started(dir, { segmentBytes, checkpointEvery: 120, cacheEvents: 0 })
    const written: EventRecord[] = []
    for (let i = 0; i < 100; i++)
      written.push(...(await store.append([draft(`s${i % 7}`, i, { i, pad: 'q'.repeat(i % 50) })])))
    const batches = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.append([draft(`s${i % 7}`, 1000 + i, { i })])),
    )
    written.push(...batches.flat())
    await store.saveSnapshot({
      actorType: 'thing',
      actorId: 's3',
      state: { n: 3 },
      at: lastOf(written, 's3'),
      eventCount: written.filter((e) => e.actorId === 's3').length,
    })
    for (let i = 0; i < 30; i++)
      written.push(...(await store.append([draft(`s${i % 7}`, 5000 + i)])))

    const segments = (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort()
    assert.ok(segments.length >= 5, `${segments.length} segments`)
    for (const name of segments.slice(0, -1))
      assert.ok((await stat(join(dir, name))).size <= segmentBytes, name)
    assert.ok(store.stats().checkpoints >= 1)

    // A crash after the mid-run checkpoint: replay starts at its position, not at segment 1.
    const crashed = await crashCopy(dir)
    const fromCheckpoint = await started(crashed, { segmentBytes })
    await expectSame(fromCheckpoint.store, written)
    assert.ok(
      fromCheckpoint.logs.some(
        (l) =>
          /replayed the log.*replayed=(\d+)/.test(l) &&
          Number(/replayed=(\d+)/.exec(l)![1]) < written.length,
      ),
    )

    // Without any checkpoint: a full replay of every segment.
    const bare = await crashCopy(dir)
    await unlink(join(bare, CHECKPOINT_FILE))
    await expectSame((await started(bare, { segmentBytes })).store, written)

    // A clean stop and reopen: everything from the final checkpoint.
    await store.stop()
    const reopened = await started(dir, { segmentBytes })
    await expectSame(reopened.store, written)
    assert.ok(!reopened.logs.some((l) => l.includes('replayed the log')))
    const [next] = await reopened.store.append([draft('s0', 9999)])
    assert.equal(next!.seq, written.length + 1)
  })

  it('ignores a damaged checkpoint and replays the segments instead', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    const written = await store.append(Array.from({ length: 30 }, (_, i) => draft(`c${i % 5}`, i)))
    await store.stop()
    await flipByte(join(dir, CHECKPOINT_FILE), 40)
    const opened = await started(dir)
    assert.ok(opened.logs.some((l) => l.includes('ignoring a damaged index checkpoint')))
    await expectSame(opened.store, written)
  })

  it('persists snapshots through a crash, dropping one that an earlier event invalidates', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    const events = await store.append([draft('k', 100), draft('k', 101)])
    await store.saveSnapshot({
      actorType: 'thing',
      actorId: 'k',
      state: { total: 2 },
      at: events[1]!,
      eventCount: 2,
    })
    const crashed = await crashCopy(dir)
    const replayed = await started(crashed)
    assert.deepEqual((await replayed.store.loadSnapshot('thing', 'k'))?.state, { total: 2 })
    await replayed.store.ingest([
      {
        actorType: 'thing',
        actorId: 'k',
        origin: 'remote',
        seq: 1,
        hlc: { wall: 50, logical: 0 },
        type: 'changed',
        payload: {},
      },
    ])
    assert.equal(await replayed.store.loadSnapshot('thing', 'k'), undefined)
    const again = await crashCopy(crashed)
    assert.equal(await (await started(again)).store.loadSnapshot('thing', 'k'), undefined)
    await replayed.store.stop()
    assert.equal(await (await started(crashed)).store.loadSnapshot('thing', 'k'), undefined)
  })

  it('keeps a snapshot whose state holds a __proto__ key, through a crash and a stop', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    const events = await store.append([draft('p', 1)])
    const key = '__proto__'
    const state = { entries: { ...{ a: 1 }, [key]: 'value' } }
    await store.saveSnapshot({ ...snapshotOf('p', events[0]!, 1), state })
    const replayed = await started(await crashCopy(dir))
    assert.deepStrictEqual((await replayed.store.loadSnapshot('thing', 'p'))?.state, state)
    await store.stop()
    const reopened = await started(dir)
    const loaded = await reopened.store.loadSnapshot('thing', 'p')
    assert.deepStrictEqual(loaded?.state, state)
    assert.ok(Object.hasOwn((loaded!.state as typeof state).entries, '__proto__'))
  })

  it('skips a snapshot it cannot decode, at replay and at load, with a warning', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    const events = await store.append([draft('s', 1), draft('s', 2)])
    // A key of the length of `__proto__`, so the record can be rewritten in place.
    await store.saveSnapshot({ ...snapshotOf('s', events[1]!, 2), state: { aaaaaaaaa: 1 } })
    const crashed = await crashCopy(dir)
    await store.stop() // writes a checkpoint that names the snapshot
    for (const copy of [crashed, dir]) {
      await poisonLastCommit(join(copy, segmentName(1)))
      const opened = await started(copy) // replays it (crash copy) or loads its ref (checkpoint)
      assert.equal(await opened.store.loadSnapshot('thing', 's'), undefined)
      assert.deepEqual(seqs(await opened.store.readActor('thing', 's')), [1, 2])
      assert.ok(
        opened.logs.some((l) => l.includes('skipping a snapshot') && l.includes('__proto__')),
        opened.logs.join('\n'),
      )
      assert.equal(await opened.store.loadSnapshot('thing', 's'), undefined) // dropped: asked once
    }
  })

  it('still refuses to start on an event it cannot decode', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    await store.append([draft('e', 1)])
    await store.append([draft('e', 2, { aaaaaaaaa: 1 })])
    const copy = await crashCopy(dir)
    await poisonLastCommit(join(copy, segmentName(1)))
    const error = await startError(openStore(copy).store)
    assert.ok(error instanceof StoreCorruptError, String(error))
    assert.match(error.message, /undecodable record.*__proto__/)
  })

  it('refuses a snapshot over the record limit once, then without encoding it again', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    let encoded = 0
    const big = 'x'.repeat(MAX_RECORD_BYTES)
    const stateOf = () =>
      Object.defineProperty({}, 'big', {
        enumerable: true,
        get: () => {
          encoded++
          return big
        },
      })
    const events: EventRecord[] = []
    for (let n = 1; n <= 4; n++) {
      events.push(...(await store.append([draft('o', n)])))
      await assert.rejects(
        store.saveSnapshot({ ...snapshotOf('o', events.at(-1)!, n), state: stateOf() }),
        (error: unknown) =>
          error instanceof PayloadTooLargeError && /snapshot of thing\/o/.test(error.message),
      )
    }
    // Encoded at 1, 2 and 4 events; at 3 (under twice the 2 of the last try) refused at once.
    assert.equal(encoded, 3)
    // Tried again once the actor has twice the events: a state that shrank is saved.
    for (let n = 5; n <= 8; n++) events.push(...(await store.append([draft('o', n)])))
    await store.saveSnapshot({ ...snapshotOf('o', events.at(-1)!, 8), state: { small: 1 } })
    assert.deepEqual((await store.loadSnapshot('thing', 'o'))?.state, { small: 1 })
  })

  it('waits for a whole read call at stop, leaving no segment open', async function () {
    if (process.platform !== 'linux') this.skip() // reads /proc/self/fd
    const dir = await tempDir()
    const { store } = await started(dir, { segmentBytes: 1024, cacheEvents: 0 })
    const written = (
      await Promise.all(Array.from({ length: 4000 }, (_, i) => store.append([draft('r', i + 1)])))
    ).flat()
    assert.ok(store.stats().segment > 100, `${store.stats().segment} segments`)
    const reading = store.readActor('thing', 'r')
    await store.stop()
    assert.deepEqual(seqs(await reading), seqs(written))
    await new Promise((resolve) => setImmediate(resolve))
    const open: string[] = []
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(join('/proc/self/fd', fd)).catch(() => '')
      if (target.startsWith(dir)) open.push(target)
    }
    assert.deepEqual(open, [])
    await assert.rejects(store.readActor('thing', 'r'), { name: 'NotRunningError' })
  })

  it('takes over a lock left by an earlier process with the same pid on this host (a restarted container)', async () => {
    const dir = await tempDir()
    await writeFile(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, host: hostname(), since: 'before the restart' }),
    )
    const { store, logs } = await started(dir)
    assert.ok(
      logs.some((l) => l.includes('taking over the data dir lock') && l.includes('earlier run')),
      logs.join('\n'),
    )
    await store.append([draft('c', 1)])
    // A second store in this process on the same dir is still refused.
    const error = await startError(openStore(dir).store)
    assert.ok(error instanceof StoreLockedError, String(error))
    assert.match(error.message, /already open in this process/)
  })

  it('refuses a lock from another host, saying how to clear it safely', async () => {
    const dir = await tempDir()
    await writeFile(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: 1, host: 'other-host', since: 'earlier' }),
    )
    const error = await startError(openStore(dir).store)
    assert.ok(error instanceof StoreLockedError, String(error))
    assert.match(error.message, /process 1 on host other-host/)
    assert.match(error.message, /cannot tell/)
    assert.match(error.message, new RegExp(`only then delete ${escape(join(dir, LOCK_FILE))}`))
  })

  it('refuses a second store on the same data dir with a clear message', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    const second = openStore(dir).store
    const error = await startError(second)
    assert.ok(error instanceof StoreLockedError, String(error))
    assert.match(
      error.message,
      new RegExp(`${escape(dir)} is already open in this process \\(pid ${process.pid}`),
    )
    await store.stop()
    await second.start() // free once the first has stopped
    await second.append([draft('l', 1)])
  })

  it('refuses a data dir locked by a live process, and takes over the lock of a dead one', async () => {
    const dir = await tempDir()
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
      stdio: 'ignore',
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      const pid = child.pid!
      await writeFile(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid, host: hostname(), since: 'earlier' }),
      )
      const error = await startError(openStore(dir).store)
      assert.ok(error instanceof StoreLockedError, String(error))
      assert.match(
        error.message,
        new RegExp(`locked by process ${pid}.*Stop that node, or give this one its own data dir`),
      )
      child.kill('SIGKILL')
      await exited
      const taken = await started(dir)
      assert.ok(
        taken.logs.some(
          (l) => l.includes('taking over the data dir lock') && l.includes(`deadPid=${pid}`),
        ),
      )
      assert.equal(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')).pid, process.pid)
      await taken.store.stop()
      await assert.rejects(stat(join(dir, LOCK_FILE)), { code: 'ENOENT' })
    } finally {
      child.kill('SIGKILL')
    }
  })

  for (const sync of ['dsync', 'fdatasync'] as const)
    it(`group commit (${sync}): concurrent appends share syncs, each resolving after one`, async () => {
      const dir = await tempDir()
      const { store } = await started(dir, { sync })
      const before = store.stats().syncs
      const appends = 500
      const late: number[] = []
      await Promise.all(
        Array.from({ length: appends }, (_, i) => {
          const syncsAtCall = store.stats().syncs
          return store.append([draft(`g${i % 50}`, i)]).then(() => {
            if (store.stats().syncs <= syncsAtCall) late.push(i) // resolved before any sync ran
          })
        }),
      )
      const syncs = store.stats().syncs - before
      assert.ok(syncs >= 1 && syncs <= appends / 10, `${syncs} syncs for ${appends} appends`)
      assert.deepEqual(late, [])
      assert.equal(store.stats().commits, syncs)
      assert.deepEqual(await store.versionVector(), { 'node-a': appends })

      // Appends arriving while a commit is being written form the next commit.
      const waves = await Promise.all(
        Array.from({ length: 5 }, (_, wave) =>
          new Promise((resolve) => setTimeout(resolve, wave)).then(() =>
            Promise.all(
              Array.from({ length: 40 }, (_, i) => store.append([draft(`w${i}`, 10_000 + wave)])),
            ),
          ),
        ),
      )
      assert.equal(waves.flat(2).length, 200)
      assert.ok(store.stats().syncs - before - syncs <= 10)
      await store.stop()
      assert.deepEqual(await (await started(dir)).store.versionVector(), {
        'node-a': appends + 200,
      })
    })

  it('group commit: a commit never grows past maxCommitBytes', async () => {
    const dir = await tempDir()
    const maxCommitBytes = 1024
    const { store } = await started(dir, { maxCommitBytes })
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.append([draft(`m${i}`, i)])))
    const file = join(dir, segmentName(1))
    const bytes = await readFile(file)
    const commits = await commitOffsets(file)
    assert.ok(commits.length > 5 && commits.length < 100, `${commits.length} commits`)
    for (const at of commits) assert.ok(bytes.readUInt32LE(at + 4) <= maxCommitBytes)
    assert.equal(store.stats().commits, commits.length)
  })

  it('refuses every write after a failed write, keeping what was acknowledged', async () => {
    const dir = await tempDir()
    const { store, logs } = await started(dir)
    await store.append([draft('f', 1)])
    // The real disk will not fail on cue: break the segment's file handle instead.
    await (store as unknown as { writer: { close(): Promise<void> } }).writer.close()
    const failed = await store.append([draft('f', 2)]).catch((e: unknown) => e)
    assert.ok(failed instanceof StoreUnavailableError, String(failed))
    assert.match(failed.message, /restart the node/)
    await assert.rejects(store.append([draft('f', 3)]), StoreUnavailableError)
    assert.ok(logs.some((l) => l.includes('file store write failed')))
    assert.deepEqual(await store.readActor('thing', 'f').then(seqs), [1])
    await store.stop()
    const reopened = await started(dir)
    assert.deepEqual(await reopened.store.versionVector(), { 'node-a': 1 })
  })

  it('refuses an event it cannot encode or that is too large, without using up a seq', async () => {
    const dir = await tempDir()
    const { store } = await started(dir)
    await assert.rejects(store.append([draft('b', 1, { f: () => 1 })]), /Unrecognized object/)
    await assert.rejects(store.append([draft('b', 2), draft('b', 3, 10n)]), /Unrecognized object/)
    await assert.rejects(
      store.append([draft('b', 4, 'x'.repeat(MAX_RECORD_BYTES))]),
      PayloadTooLargeError,
    )
    const [ok] = await store.append([draft('b', 5)])
    assert.equal(ok!.seq, 1)
    assert.deepEqual(await store.versionVector(), { 'node-a': 1 })
  })

  it('start and stop are idempotent and a stopped store refuses calls', async () => {
    const dir = await tempDir()
    const { store } = openStore(dir)
    await Promise.all([store.start(), store.start()])
    await store.append([draft('i', 1)])
    await Promise.all([store.stop(), store.stop()])
    await store.stop()
    await assert.rejects(store.append([draft('i', 2)]), { name: 'NotRunningError' })
    await store.start()
    assert.deepEqual(await store.versionVector(), { 'node-a': 1 })
  })
})

function draft(actorId: string, wall: number, payload: unknown = { n: wall }): EventDraft {
  return {
    actorType: 'thing',
    actorId,
    origin: 'node-a',
    hlc: { wall, logical: 0 },
    type: 'changed',
    payload,
  }
}

function snapshotOf(actorId: string, at: EventRecord, eventCount: number): Snapshot {
  return {
    actorType: 'thing',
    actorId,
    state: {},
    at,
    eventCount,
  }
}

/**
 * Rewrites the last commit of a segment so its first record holds a `__proto__` map key
 * (where it held `aaaaaaaaa`), with valid checksums: what a store before the fix wrote.
 */
async function poisonLastCommit(file: string): Promise<void> {
  const bytes = await readFile(file)
  const at = (await commitOffsets(file)).at(-1)!
  const commit = bytes.subarray(at)
  const bodyStart = COMMIT_HEADER_BYTES + RECORD_HEADER_BYTES
  const length = commit.readUInt32LE(COMMIT_HEADER_BYTES + 4)
  const body = commit.subarray(bodyStart, bodyStart + length)
  const key = body.indexOf('aaaaaaaaa')
  assert.ok(key > 0, 'the record holds the key to rewrite')
  body.write('__proto__', key, 'latin1')
  writeRecordFrame(commit, COMMIT_HEADER_BYTES, Buffer.from(body))
  writeCommitHeader(commit, commit.readUInt32LE(4))
  await writeFile(file, bytes)
}

function seqs(events: readonly EventRecord[]): number[] {
  return events.map((e) => e.seq)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

function lastOf(events: readonly EventRecord[], actorId: string): EventRecord {
  return events.filter((e) => e.actorId === actorId).at(-1)!
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Every event, by origin and by actor, reads back exactly as written. */
async function expectSame(store: FileEventStore, written: readonly EventRecord[]): Promise<void> {
  assert.deepEqual(await store.versionVector(), { 'node-a': written.length })
  assert.deepEqual(
    await store.readOrigin('node-a', 1, written.length + 10),
    [...written].sort((a, b) => a.seq - b.seq),
  )
  for (const actorId of new Set(written.map((e) => e.actorId))) {
    const mine = written.filter((e) => e.actorId === actorId)
    const read = await store.readActor('thing', actorId)
    assert.deepEqual(new Set(read.map((e) => e.seq)), new Set(mine.map((e) => e.seq)))
  }
}

/** The byte offsets of the commits in a segment file (the format: magic, length, crcs, body). */
async function commitOffsets(file: string): Promise<number[]> {
  const bytes = await readFile(file)
  const offsets: number[] = []
  for (let at = 0; at + COMMIT_HEADER_BYTES <= bytes.length;) {
    offsets.push(at)
    at += COMMIT_HEADER_BYTES + bytes.readUInt32LE(at + 4)
  }
  return offsets
}

async function flipByte(file: string, at: number): Promise<void> {
  const bytes = await readFile(file)
  bytes[at] = bytes[at]! ^ 0xff
  await writeFile(file, bytes)
}

async function startError(store: FileEventStore): Promise<unknown> {
  try {
    await store.start()
  } catch (error) {
    return error
  }
  await store.stop()
  return new Error('start() succeeded')
}
