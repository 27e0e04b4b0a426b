// The memory store: tests and throwaway runs; everything is gone when the process ends.
export { memoryStore, MemoryEventStore } from './memory-store.js'
export type { MemoryStoreInit } from './memory-store.js'
