// The file store: the embedded default event store (its parts are listed at the top of file-store.ts).
export { FileEventStore, fileStore } from './file-store.js'
export type { FileStoreStats } from './file-store.js'
export {
  FILE_STORE_DEFAULTS,
  fileStoreInitSchema,
  MAX_COMMIT_BYTES,
  MAX_SEGMENT_BYTES,
  MIN_SEGMENT_BYTES,
  parseFileStoreInit,
} from './options.js'
export type { FileStoreInit, FileStoreOptions } from './options.js'
export { CHECKPOINT_FILE } from './index-checkpoint.js'
export { LOCK_FILE } from './data-dir-lock.js'
export { MAX_RECORD_BYTES, segmentName } from './segment-format.js'
