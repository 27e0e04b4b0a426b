// The file store's init: one zod schema holds every field, its limits and its default, and
// the factory parses a user's init with it once.
import { constants as fsConstants } from 'node:fs'
import { z } from 'zod'
import { parseInit } from '../../support/options.js'

/**
 * Smallest accepted `segmentBytes`: tiny segments are for tests of rolling (the node's
 * config asks for more). A record larger than a segment still gets one of its own.
 */
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
} as const

/**
 * How the file store is configured: every field, with the store's own limits and defaults.
 * node/config.ts composes it into the node's config; `fileStore(init)` parses with it once.
 */
export const fileStoreInitSchema = z.object({
  /** The data dir: segments, index checkpoint and lock file live here (created if missing). */
  dir: z.string().min(1),
  /** A segment rolls to the next file when a commit would take it past this size. */
  segmentBytes: z
    .number()
    .int()
    .min(MIN_SEGMENT_BYTES)
    .max(MAX_SEGMENT_BYTES)
    .default(FILE_STORE_DEFAULTS.segmentBytes),
  /** Most bytes of records in one group commit (one durable write). */
  maxCommitBytes: z
    .number()
    .int()
    .min(1)
    .max(MAX_COMMIT_BYTES)
    .default(FILE_STORE_DEFAULTS.maxCommitBytes),
  /** Events between two index checkpoints (a restart replays at most this many). */
  checkpointEvery: z.number().int().min(1).default(FILE_STORE_DEFAULTS.checkpointEvery),
  /** Recently written or read events kept decoded in memory (0 turns the cache off). */
  cacheEvents: z.number().int().min(0).default(FILE_STORE_DEFAULTS.cacheEvents),
  /**
   * What start() checks: `tail` re-reads the segments after the index checkpoint; `all`
   * also re-reads and checks every older commit (slower: reads the whole log).
   */
  verify: z.enum(['tail', 'all']).default(FILE_STORE_DEFAULTS.verify),
  /**
   * How a commit is made durable: `dsync` writes through a segment opened with O_DSYNC
   * (one system call: the write returns once the data is on disk), `fdatasync` writes and
   * then calls fdatasync (two). Both give the same guarantee; `dsync` where available.
   */
  sync: z.enum(['dsync', 'fdatasync']).default(FILE_STORE_DEFAULTS.sync),
})

/** How the file store is configured (what a user writes: every field but `dir` is optional). */
export type FileStoreInit = z.input<typeof fileStoreInitSchema>

/** A parsed init: every field checked and set. */
export type FileStoreOptions = z.output<typeof fileStoreInitSchema>

/** Checks `init` once and fills in the defaults; throws `ConfigError` naming the bad field. */
export function parseFileStoreInit(init: FileStoreInit): FileStoreOptions {
  return parseInit(fileStoreInitSchema, init, 'file store')
}
