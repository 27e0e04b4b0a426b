// The fabric key of a geo of several nodes: one Ed25519 key for the whole geo, kept in the
// geo's Redis. The first node to start puts its own key there; every other node takes that
// one, so the geo is one PeerId to the other geos and whichever node replicates for it signs
// every node's events (see docs/fabric.md, "A geo of several nodes"). Whoever can read the
// geo's Redis can already write its events, so keeping the key there exposes nothing more.
import {
  checkTarget,
  closeStoreClient,
  connectStoreClient,
  createStoreClient,
} from './connection.js'
import { RedisKeys } from './keys.js'
import { parseRedisStoreInit, type RedisStoreInit } from './options.js'

/** The geo's fabric key (protobuf bytes): the one in Redis, or `candidate` when there is none yet. */
export async function takeGeoFabricKey(
  init: RedisStoreInit,
  candidate: Uint8Array,
  nodeId: string,
): Promise<Uint8Array> {
  const settings = parseRedisStoreInit(init)
  const keys = new RedisKeys(settings.prefix, settings.cluster ? 'hash-tagged' : 'plain')
  const client = createStoreClient(settings, nodeId)
  client.on('error', () => undefined) // the calls below report what failed
  await connectStoreClient(client, settings)
  try {
    // The store's own checks first: a url that names a cluster node, data of the other layout.
    await checkTarget(client, settings, keys)
    const key = keys.fabricKey()
    await client.set(key, Buffer.from(candidate), 'NX')
    const held = await client.getBuffer(key)
    if (!held) throw new Error(`the geo's fabric key ${key} vanished right after it was set`)
    return held
  } finally {
    await closeStoreClient(client)
  }
}
