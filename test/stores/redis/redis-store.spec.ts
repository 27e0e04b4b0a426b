import assert from 'node:assert/strict'
import { compareEventKeys, type EventRecord, type EventStore } from '../../../core/index.js'
import { eventStoreConformance } from '../../conformance/event-store.js'
import { requireRedis, testRedis, uniquePrefix } from '../../support/redis-server.js'
import { deleteKeys, openRedisStore, storeComponents } from './helpers.js'

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
      const origins = [
        'a',
        'a\u0000',
        'a\u0000b',
        'ab',
        'b',
        '\u00e9',
        '\uffff',
        '\ud83d\ude00',
        '\ud800',
      ]
      const actorType = 'typ/é:1'
      const actorId = 'id:\ud800:\u0000'
      const events: EventRecord[] = origins.flatMap((origin, i) =>
        [1, 2].map((seq) => ({
          actorType,
          actorId,
          origin,
          seq,
          hlc: { wall: 1_000 + (seq === 2 ? i % 2 : 0), logical: 0 },
          type: 'changed',
          payload: { origin, seq },
        })),
      )
      assert.equal((await store.ingest([...events].reverse())).length, events.length)
      const read = await store.readActor(actorType, actorId)
      assert.deepEqual(read, [...events].sort(compareEventKeys))
      const after = [...events].sort(compareEventKeys)[7]!
      assert.deepEqual(
        await store.readActor(actorType, actorId, { after }),
        [...events].sort(compareEventKeys).slice(8),
      )
      await store.append([{ ...events[0]!, actorType: 'x:y', actorId: 'z' }])
      assert.deepEqual(await store.readActor('x', 'y:z'), [], 'types and ids never share a key')
      assert.deepEqual(
        await store.versionVector(),
        Object.fromEntries(origins.map((origin) => [origin, origin === 'a' ? 3 : 2])),
      )
      assert.deepEqual(await store.readOrigin('\ud800', 1, 10), events.slice(-2))
    } finally {
      await store.stop()
      await deleteKeys(redis!.url, prefix)
    }
  })
})
