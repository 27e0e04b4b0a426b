// The retirement notices of a geo of several nodes, kept in the geo's Redis: whichever node
// replicates holds the notices the last one held, so its first hellos after taking over are
// as small as before (docs/fabric.md, "Retired origins"). Notices are rare (one per restart
// of a node under a new log id), so each call has a connection of its own.
import type { NoticeKeeper } from '../../core/index.js'
import {
  closeStoreClient,
  connectStoreClient,
  createStoreClient,
  type StoreClient,
} from './connection.js'
import { RedisKeys } from './keys.js'
import { parseRedisStoreInit, type RedisStoreInit } from './options.js'

/** A `NoticeKeeper` on the Redis of `init`: one hash field per key (PeerId). */
export function redisNoticeKeeper(init: RedisStoreInit, nodeId: string): NoticeKeeper {
  const settings = parseRedisStoreInit(init)
  const keys = new RedisKeys(settings.prefix, settings.cluster ? 'hash-tagged' : 'plain')
  const withClient = async <T>(use: (client: StoreClient) => Promise<T>): Promise<T> => {
    const client = createStoreClient(settings, nodeId)
    client.on('error', () => undefined) // the call below reports what failed
    await connectStoreClient(client, settings)
    try {
      return await use(client)
    } finally {
      await closeStoreClient(client)
    }
  }
  return {
    load: () =>
      withClient(async (client) => {
        const kept = await client.hgetallBuffer(keys.retiredNotices())
        return Object.entries(kept).map(([key, bytes]) => ({ key, bytes: new Uint8Array(bytes) }))
      }),
    keep: (key, bytes) =>
      withClient(async (client) => {
        await client.hset(keys.retiredNotices(), key, Buffer.from(bytes))
      }),
  }
}
