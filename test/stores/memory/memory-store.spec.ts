import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { eventStoreConformance } from '../../conformance/event-store.js'

eventStoreConformance('memory store', async () => {
  const store = new MemoryEventStore()
  await store.start()
  return { store, cleanup: () => store.stop() }
})
