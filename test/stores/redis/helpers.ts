// Shared by the Redis specs: components for a store, opening one, and removing a test's keys.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import {
  compareEventKeys,
  silentLogger,
  systemClock,
  Taps,
  type EventRecord,
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

/**
 * Writes events whose origins, type and id hold NUL, non-ASCII and lone surrogates, and
 * checks that merge order, names, vector and origin reads come back exact.
 */
export async function assertNamesExact(store: EventStore): Promise<void> {
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
}
