import type { EventStore } from '../../../core/index.js'
import { eventStoreConformance } from '../../conformance/event-store.js'
import { requireRedis, testRedis, uniquePrefix } from '../../support/redis-server.js'
import { assertNamesExact, deleteKeys, openRedisStore, storeComponents } from './helpers.js'

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

  it('keeps merge order and names exact for any strings: NUL, non-ASCII, lone surrogates', async () => {
    const prefix = uniquePrefix('names ✓')
    const store = await openRedisStore(
      { url: redis!.url, prefix },
      storeComponents('node with spaces'),
    )
    try {
      await assertNamesExact(store)
    } finally {
      await store.stop()
      await deleteKeys(redis!.url, prefix)
    }
  })
})
