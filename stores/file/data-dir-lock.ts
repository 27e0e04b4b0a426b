import { randomBytes } from 'node:crypto'
import { link, readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { StoreLockedError, type Logger } from '../../core/index.js'
import { readSmallFile } from '../../support/small-file.js'

/** Name of the lock file in a data dir. */
export const LOCK_FILE = 'LOCK'

/** Largest lock file read (one holds a pid, a host name and a time). */
const MAX_LOCK_FILE_BYTES = 4 * 1024

/** What a lock file holds: who holds the data dir. */
interface LockHolder {
  readonly pid: number
  readonly host: string
  readonly since: string
}

/**
 * The lock files this process holds (or is taking). A lock file naming this pid that is
 * not in here was left by an earlier process with the same pid: a restarted container,
 * where the node is pid 1 every time.
 */
const heldByThisProcess = new Set<string>()

/** A held data dir lock. */
export interface DataDirLock {
  readonly path: string
  /** Removes the lock file if it is still ours; safe to call more than once. */
  release(): Promise<void>
}

/**
 * Takes the data dir's lock file, or throws `StoreLockedError` when a live process holds
 * it. The file is created complete in one step (written aside, then hard-linked into
 * place, which fails if it exists), so a reader never sees a half-written lock. A lock
 * left by a process that no longer runs on this host, or by an earlier process with this
 * one's pid, is taken over, with a warning.
 */
export async function acquireDataDirLock(dir: string, logger: Logger): Promise<DataDirLock> {
  const path = join(await realpath(dir), LOCK_FILE)
  // Reserved before any await, so two stores of this process never race for the file.
  if (heldByThisProcess.has(path))
    throw new StoreLockedError(
      `data dir ${dir} is already open in this process (pid ${process.pid}): ` +
        `stop the other store on it first, or give this one its own data dir.`,
    )
  heldByThisProcess.add(path)
  try {
    return await takeLock(dir, path, logger)
  } catch (error) {
    heldByThisProcess.delete(path)
    throw error
  }
}

async function takeLock(dir: string, path: string, logger: Logger): Promise<DataDirLock> {
  const mine: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
  const content = JSON.stringify(mine) + '\n'
  for (let attempt = 0; attempt < 2; attempt++) {
    const aside = join(dir, `${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(aside, content, { flag: 'wx' })
    try {
      await link(aside, path)
      return ownLock(path, content)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      await unlink(aside).catch(() => {})
    }
    const raw = await readLockFile(dir, path)
    if (raw === undefined) continue // released meanwhile: try again
    const holder = parseHolder(raw)
    if (!holder)
      throw new StoreLockedError(
        `data dir ${dir} is locked, but its lock file ${path} is unreadable (${JSON.stringify(raw.slice(0, 80))}). ` +
          `If no anywhere node uses this data dir, delete ${path} and start again.`,
      )
    if (holder.host !== mine.host)
      throw new StoreLockedError(
        `data dir ${dir} is locked by process ${holder.pid} on host ${holder.host} (since ${holder.since}), ` +
          `and from host ${mine.host} this node cannot tell whether that process still runs. ` +
          `Two nodes on one data dir corrupt it, so check first: on host ${holder.host}, that no ` +
          `anywhere node (pid ${holder.pid}) uses this data dir, or that the host is gone for good; ` +
          `only then delete ${path} and start again. Otherwise stop that node, or give this one ` +
          `its own data dir. (A container whose host name changes on each restart meets this too: ` +
          `give it a stable host name.)`,
      )
    // Our pid, but not a lock this process holds (checked above): an earlier process.
    const earlierRun = holder.pid === process.pid
    if (!earlierRun && isAlive(holder.pid))
      throw new StoreLockedError(
        `data dir ${dir} is locked by process ${holder.pid} (since ${holder.since}; lock file ${path}): ` +
          `another anywhere node is using it. Stop that node, or give this one its own data dir. ` +
          `If process ${holder.pid} is not an anywhere node, delete ${path} and start again ` +
          `(a lock left by a process that has exited is taken over on its own).`,
      )
    logger.warn(
      earlierRun
        ? 'taking over the data dir lock of an earlier run with this process id (a restart, e.g. of a container)'
        : 'taking over the data dir lock of a process that no longer runs',
      { lockFile: path, deadPid: holder.pid, since: holder.since },
    )
    await takeOverStale(path, raw)
  }
  throw new StoreLockedError(
    `could not take the lock of data dir ${dir}: another process took it at the same time. Try again.`,
  )
}

/** Moves a stale lock aside; if another process replaced it meanwhile, puts that one back. */
async function takeOverStale(path: string, staleContent: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}`
  try {
    await rename(path, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // someone removed it
    throw error
  }
  const moved = await readFile(aside, 'utf8').catch(() => staleContent)
  if (moved !== staleContent) {
    // We moved a fresh lock another process had just taken: give it back and lose the race.
    await link(aside, path).catch(() => {})
    await unlink(aside).catch(() => {})
    throw new StoreLockedError(
      `data dir lock ${path} was taken by another process while this one took over a stale lock`,
    )
  }
  await unlink(aside)
}

function ownLock(path: string, content: string): DataDirLock {
  let released = false
  return {
    path,
    async release() {
      if (released) return
      released = true
      try {
        const current = await readFile(path, 'utf8').catch(() => undefined)
        if (current === content) await unlink(path).catch(() => {})
      } finally {
        // Only once the file is gone: a store of this process opening the dir meanwhile
        // would otherwise take this lock for an earlier run's.
        heldByThisProcess.delete(path)
      }
    },
  }
}

/**
 * The lock file's text, or undefined when it is gone (released meanwhile). One that is there
 * but cannot be read (a directory in its place) is refused, not taken for a race.
 */
async function readLockFile(dir: string, path: string): Promise<string | undefined> {
  let read: Buffer | string
  try {
    read = await readSmallFile(path, MAX_LOCK_FILE_BYTES)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    read = (error as Error).message
  }
  if (typeof read !== 'string') return read.toString('utf8')
  throw new StoreLockedError(
    `data dir ${dir} is locked, but its lock file ${path} cannot be read (${read}). ` +
      `If no anywhere node uses this data dir, remove ${path} and start again.`,
  )
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder>
    if (
      typeof value.pid === 'number' &&
      Number.isSafeInteger(value.pid) &&
      value.pid > 0 &&
      typeof value.host === 'string'
    )
      return { pid: value.pid, host: value.host, since: String(value.since ?? 'unknown') }
  } catch {
    // fall through: not a lock we wrote
  }
  return undefined
}

/** True when a process with this pid runs (EPERM: it runs, under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
