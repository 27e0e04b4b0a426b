// Shared by the Redis specs: components for a store, opening one, and removing a test's keys.
import { Redis } from 'ioredis'
import {
  silentLogger,
  systemClock,
  Taps,
  type EventStore,
  type EventStoreComponents,
} from '../../../core/index.js'
import { redisStore, type RedisStoreInit } from '../../../stores/redis/index.js'

/** Components as a node injects them, with taps the test can watch. */
export function storeComponents(nodeId = 'node-a'): EventStoreComponents {
  return { clock: systemClock(), logger: silentLogger(), taps: new Taps(), nodeId }
}

/** A started Redis store. */
export async function openRedisStore(
  init: RedisStoreInit,
  components: EventStoreComponents = storeComponents(),
): Promise<EventStore> {
  const store = redisStore(init)(components)
  await store.start()
  return store
}

/** Removes every key under `prefix` (tests that share a REDIS_URL server clean up after themselves). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  try {
    await client.connect()
    let cursor = '0'
    do {
      // Buffers: key names need not be UTF-8.
      const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next.toString()
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
