// The file store: the embedded default event store (design at the top of file-store.ts).
export {
  CHECKPOINT_FILE,
  FILE_STORE_DEFAULTS,
  FileEventStore,
  fileStore,
  MAX_COMMIT_BYTES,
  MAX_SEGMENT_BYTES,
  MIN_SEGMENT_BYTES,
  parseFileStoreInit,
  segmentName,
} from './file-store.js'
export type { FileStoreInit, FileStoreStats } from './file-store.js'
export { LOCK_FILE } from './data-dir-lock.js'
export { MAX_RECORD_BYTES } from './segment-format.js'
