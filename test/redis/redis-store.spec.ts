import type { EventStore } from '../../core/index.js'
import { eventStoreConformance } from '../conformance/event-store.js'
import { requireRedis, testRedis, uniquePrefix } from '../support/redis-server.js'
import { deleteKeys, openRedisStore } from './helpers.js'

describe('redis store', function () {
  let redis: { url: string; stop(): Promise<void> } | undefined

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
  })
  after(async () => {
    await redis?.stop()
  })

  eventStoreConformance('redis store', async () => {
    const url = redis!.url
    const prefix = uniquePrefix('conformance')
    let store: EventStore = await openRedisStore({ url, prefix })
    return {
      store,
      reopen: async () => {
        await store.stop()
        store = await openRedisStore({ url, prefix })
        return store
      },
      cleanup: async () => {
        await store.stop()
        await deleteKeys(url, prefix)
      },
    }
  })
})
