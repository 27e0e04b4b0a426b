// Follows what the other nodes of a geo store in the geo's Redis: one blocking XREAD over
// the streams of the origins asked for, on a connection of its own (a blocked connection
// serves nothing else), so a node hears of an event within a round trip of its commit and
// asks Redis nothing while the geo is quiet.
import {
  StoreCorruptError,
  type EventFollower,
  type EventRecord,
  type Logger,
  type VersionVector,
} from '../../core/index.js'
import { closeStoreClient, connectStoreClient, type StoreClient } from './connection.js'
import { encodeName } from './encoding.js'
import type { RedisKeys } from './keys.js'
import type { RedisStoreSettings } from './options.js'

/** XREAD's reply: per stream, its key and its entries (id, then the fields). */
type XReadReply = [Buffer, [Buffer, Buffer[]][]][] | null

/** How the follower decodes a stream entry (the store's checks: a bad one is StoreCorruptError). */
export type DecodeEntry = (stream: Buffer, member: Buffer) => EventRecord

export class RedisEventFollower implements EventFollower {
  private connected: Promise<void> | undefined
  private closed = false
  /** Stream keys by origin, built once per origin. */
  private readonly streams = new Map<string, Buffer>()

  constructor(
    private readonly client: StoreClient,
    private readonly settings: RedisStoreSettings,
    private readonly keys: RedisKeys,
    private readonly decode: DecodeEntry,
    logger: Logger,
  ) {
    // A failed call rejects its `next`; the events are only what ioredis also reports.
    client.on('error', (error: Error) =>
      logger.debug('store follower: redis connection error', { error: error.message }),
    )
  }

  async next(
    after: Readonly<VersionVector>,
    options: { waitMs: number; limit: number },
  ): Promise<EventRecord[]> {
    if (this.closed) throw new Error('the event follower is closed')
    const origins = Object.keys(after)
    if (origins.length === 0) throw new TypeError('follow at least one origin')
    if (!this.connected) {
      const connecting = connectStoreClient(this.client, this.settings)
      this.connected = connecting
      // A failed connect is tried again by the next call (the client was cut, not left retrying).
      connecting.catch(() => {
        if (this.connected === connecting) this.connected = undefined
      })
    }
    await this.connected
    const keys = origins.map((origin) => this.stream(origin))
    const ids = origins.map((origin) => `${after[origin]!}-0`)
    const reply = (await this.client.xreadBuffer(
      'COUNT',
      // COUNT is per stream: the whole reply stays near `limit` however many origins there are.
      Math.max(1, Math.floor(options.limit / origins.length)),
      'BLOCK',
      // Well within the command timeout, which would otherwise cut a quiet wait short.
      Math.max(1, Math.floor(Math.min(options.waitMs, this.settings.commandTimeoutMs / 2))),
      'STREAMS',
      ...keys,
      ...ids,
    )) as XReadReply
    if (!reply) return []
    const originOf = new Map(keys.map((key, i) => [key.toString('latin1'), origins[i]!]))
    const events: EventRecord[] = []
    for (const [key, entries] of reply) {
      const origin = originOf.get(key.toString('latin1'))
      for (const [id, fields] of entries) {
        const member = fields[1]
        if (fields.length !== 2 || !member)
          throw this.corrupt(key, 'holds an entry that is not one field')
        const event = this.decode(key, member)
        if (event.origin !== origin || `${event.seq}-0` !== id.toString('latin1'))
          throw this.corrupt(
            key,
            `entry ${id.toString('latin1')} holds ${event.origin}:${event.seq}`,
          )
        events.push(event)
      }
    }
    return events
  }

  async close(): Promise<void> {
    this.closed = true
    // A blocked XREAD would hold QUIT until it returns: cut the connection instead.
    this.client.disconnect()
    await closeStoreClient(this.client)
  }

  private corrupt(key: Buffer, detail: string): StoreCorruptError {
    return new StoreCorruptError(
      `redis store: stream '${key.toString('utf8')}' ${detail}: it was not written by this store version or has been changed`,
    )
  }

  private stream(origin: string): Buffer {
    let key = this.streams.get(origin)
    if (!key) this.streams.set(origin, (key = this.keys.origin(encodeName(origin))))
    return key
  }
}
