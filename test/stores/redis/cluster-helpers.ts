// Shared by the Redis Cluster specs: a test event, and reading or removing keys per master.
import { Redis } from 'ioredis'
import type { EventDraft, EventStore } from '../../../core/index.js'
import type { RedisCluster } from '../../support/redis-cluster.js'
import { deleteKeys } from './helpers.js'

/** An event of actor `thing/<actorId>` from origin `node-a`. */
export const draft = (actorId: string, wall: number): EventDraft => ({
  actorType: 'thing',
  actorId,
  origin: 'node-a',
  hlc: { wall, logical: 0 },
  type: 'changed',
  payload: { wall },
})

/** Removes a prefix's keys from every master (in the cluster layout they are all on one). */
export async function deleteClusterKeys(cluster: RedisCluster, prefix: string): Promise<void> {
  await Promise.all(cluster.urls.map((url) => deleteKeys(url, `{${prefix}}`)))
}

/** Every key of the cluster, per master, read with SCAN on each master. */
export async function keysPerMaster(cluster: RedisCluster, pattern: string): Promise<Buffer[][]> {
  return Promise.all(
    cluster.urls.map(async (url) => {
      const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
      try {
        const found: Buffer[] = []
        let cursor = '0'
        do {
          const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 500)
          cursor = next.toString()
          found.push(...keys)
        } while (cursor !== '0')
        return found
      } finally {
        client.disconnect()
      }
    }),
  )
}

/** One command on one node, on a connection of its own. */
export async function onNode(
  url: string,
  ...args: Array<string | number | Buffer>
): Promise<unknown> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {}) // a refused connection rejects the call below
  try {
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

/** Everything `assertNamesExact` wrote, read back: actor, origins and vector. */
export async function readAll(store: EventStore): Promise<unknown[]> {
  const vector = await store.versionVector()
  const origins = await Promise.all(
    Object.keys(vector)
      .sort()
      .map((origin) => store.readOrigin(origin, 1, 100)),
  )
  return [vector, origins, await store.readActor('typ/é:1', 'id:\ud800:\u0000')]
}
