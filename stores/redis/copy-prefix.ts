// Copies a geo's keys from one Redis to another (one Redis to a Redis Cluster, or back),
// renaming each key into the target's layout: `eu-west:vv` on one Redis is `{eu-west:}vv`
// on a cluster. Each key goes as DUMP on the source and RESTORE on the target, bytes as they
// are (key names hold any bytes). Run it with the geo's nodes stopped: it copies what is
// there when it scans, and a node writing meanwhile would leave the copy behind.
import type { Cluster, Redis } from 'ioredis'
import { ConfigError, type AbortOptions } from '../../core/index.js'
import { throwIfAborted } from '../../support/abort.js'
import {
  closeStoreClient,
  connectStoreClient,
  createStoreClient,
  describeTarget,
  errorMessage,
} from './connection.js'
import { RedisKeys } from './keys.js'
import { parseRedisStoreInit, type RedisStoreInit } from './options.js'

/** Keys read per SCAN step. */
const SCAN_COUNT = 500

/** Where a geo's keys are: one Redis (`url`) or a Redis Cluster (`cluster`). */
export type RedisTarget = Pick<RedisStoreInit, 'url' | 'cluster'>

/** What `copyPrefix` copies, from where to where. */
export interface CopyPrefixInit {
  from: RedisTarget
  to: RedisTarget
  /** The geo's key prefix, the same on both sides. */
  prefix: string
}

/** The commands the copy uses, on one Redis or a cluster. */
type CopyClient = Pick<Redis, 'scanBuffer' | 'dumpBuffer' | 'restore' | 'exists'>

/**
 * Copies every key of `prefix` from `from` to `to`, renamed into the target's layout.
 * Refuses (ConfigError) when the source holds no events under the prefix or the target
 * already holds some. Resolves to the number of keys copied.
 */
export async function copyPrefix(init: CopyPrefixInit, options?: AbortOptions): Promise<number> {
  const from = parseRedisStoreInit({ ...init.from, prefix: init.prefix })
  const to = parseRedisStoreInit({ ...init.to, prefix: init.prefix })
  const fromKeys = new RedisKeys(init.prefix, from.cluster ? 'hash-tagged' : 'plain')
  const toKeys = new RedisKeys(init.prefix, to.cluster ? 'hash-tagged' : 'plain')
  const source = createStoreClient(from, 'copy-prefix')
  const target = createStoreClient(to, 'copy-prefix')
  for (const client of [source, target]) client.on('error', () => {})
  try {
    await connectStoreClient(source, from)
    await connectStoreClient(target, to)
    const read = source as unknown as CopyClient
    const write = target as unknown as CopyClient
    if ((await read.exists(fromKeys.vector())) === 0)
      throw new ConfigError(
        `${describeTarget(from)} holds no events under prefix '${init.prefix}' ` +
          `(no key '${fromKeys.vector().toString()}'): nothing to copy`,
      )
    if ((await write.exists(toKeys.vector())) === 1)
      throw new ConfigError(
        `${describeTarget(to)} already holds events under prefix '${init.prefix}' ` +
          `('${toKeys.vector().toString()}'): copy into an empty prefix only`,
      )
    let copied = 0
    for (const node of masters(source)) {
      let cursor = '0'
      do {
        throwIfAborted(options?.signal, 'copyPrefix')
        const [next, names] = await node.scanBuffer(
          cursor,
          'MATCH',
          globEscape(fromKeys.root) + '*',
          'COUNT',
          SCAN_COUNT,
        )
        cursor = next.toString()
        for (const name of names) {
          // A node's hold on the source prefix (owner-lease.ts) is not data: it would never expire there.
          if (name.equals(fromKeys.owner())) continue
          const value = await read.dumpBuffer(name)
          if (value === null) continue // removed since the scan: nothing to copy
          const renamed = toKeys.key(name.subarray(Buffer.byteLength(fromKeys.root)))
          try {
            await write.restore(renamed, 0, value)
          } catch (error) {
            throw new ConfigError(
              `cannot write '${renamed.toString()}' to ${describeTarget(to)}: ${errorMessage(error)}; ` +
                `copied ${copied} keys so far: remove the prefix's keys there and run the copy again`,
              { cause: error },
            )
          }
          copied++
        }
      } while (cursor !== '0')
    }
    return copied
  } finally {
    await Promise.all([closeStoreClient(source), closeStoreClient(target)])
  }
}

/** The connections to SCAN: each master of a cluster, or the one Redis. */
function masters(client: unknown): Array<Pick<Redis, 'scanBuffer'>> {
  const cluster = client as Partial<Pick<Cluster, 'nodes'>>
  return typeof cluster.nodes === 'function' ? cluster.nodes('master') : [client as Redis]
}

/** `text` as a SCAN MATCH pattern that matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}
