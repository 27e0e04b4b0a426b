// Follows what the other nodes of a geo store in the geo's Redis. Every write script adds an
// entry to one capped stream of writes (keys.ts, `changes`): the origins it moved and their
// new highest seq. A node waits on that one stream with a blocking XREAD, on a connection of
// its own (a blocked connection serves nothing else), then reads the events of the origins
// that moved. It hears of an event within a round trip of its commit, asks Redis nothing
// while the geo is quiet, and its reads cost the same whether the store holds 2 origins or
// 20,000 (a blocking XREAD over every origin's stream named them all on every read).
import {
  StoreCorruptError,
  type EventFollower,
  type EventRecord,
  type Logger,
  type VersionVector,
} from '../../core/index.js'
import { closeStoreClient, connectStoreClient, type StoreClient } from './connection.js'
import { decodeName, encodeName } from './encoding.js'
import type { RedisKeys } from './keys.js'
import type { RedisStoreSettings } from './options.js'

/** XREAD's reply: per stream, its key and its entries (id, then the fields). */
type XReadReply = [Buffer, [Buffer, Buffer[]][]][] | null

/** How the follower decodes a stream entry (the store's checks: a bad one is StoreCorruptError). */
export type DecodeEntry = (stream: Buffer, member: Buffer) => EventRecord

/** Entries of the stream of writes taken by one `changes`. */
const CHANGES_PER_READ = 1_000
/** Most origins' streams one read names (a read of more origins takes several). */
const ORIGINS_PER_READ = 256
/** Where the stream of writes starts: before its first entry. */
const START = '0-0'

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
    // A failed call rejects its caller; the events are only what ioredis also reports.
    client.on('error', (error: Error) =>
      logger.debug('store follower: redis connection error', { error: error.message }),
    )
  }

  async position(): Promise<string> {
    await this.connect()
    const last = (await this.client.xrevrangeBuffer(this.keys.changes(), '+', '-', 'COUNT', 1)) as [
      Buffer,
      Buffer[],
    ][]
    return last[0] ? last[0][0].toString('latin1') : START
  }

  async changes(
    from: string,
    waitMs: number,
  ): Promise<{ position: string; written: VersionVector }> {
    await this.connect()
    const key = this.keys.changes()
    const reply = (await this.client.xreadBuffer(
      'COUNT',
      CHANGES_PER_READ,
      'BLOCK',
      // Well within the command timeout, which would otherwise cut a quiet wait short.
      Math.max(1, Math.floor(Math.min(waitMs, this.settings.commandTimeoutMs / 2))),
      'STREAMS',
      key,
      from,
    )) as XReadReply
    const written: VersionVector = {}
    let position = from
    for (const [, entries] of reply ?? [])
      for (const [id, fields] of entries) {
        position = id.toString('latin1')
        if (fields.length % 2 !== 0) throw this.corrupt(key, `entry ${position} is not pairs`)
        for (let i = 0; i < fields.length; i += 2) {
          const origin = this.name(key, fields[i]!)
          const seq = Number(fields[i + 1]!.toString('latin1'))
          if (!Number.isSafeInteger(seq) || seq < 1)
            throw this.corrupt(key, `entry ${position} holds a seq that is not one`)
          if (seq > (written[origin] ?? 0)) written[origin] = seq
        }
      }
    return { position, written }
  }

  async read(after: Readonly<VersionVector>, limit: number): Promise<EventRecord[]> {
    await this.connect()
    const origins = Object.keys(after).slice(0, ORIGINS_PER_READ)
    if (origins.length === 0) return []
    const keys = origins.map((origin) => this.stream(origin))
    const ids = origins.map((origin) => `${after[origin]!}-0`)
    const reply = (await this.client.xreadBuffer(
      // COUNT is per stream: the whole reply stays near `limit` however many origins there are.
      'COUNT',
      Math.max(1, Math.floor(limit / origins.length)),
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

  private async connect(): Promise<void> {
    if (this.closed) throw new Error('the event follower is closed')
    if (!this.connected) {
      const connecting = connectStoreClient(this.client, this.settings)
      this.connected = connecting
      // A failed connect is tried again by the next call (the client was cut, not left retrying).
      connecting.catch(() => {
        if (this.connected === connecting) this.connected = undefined
      })
    }
    await this.connected
  }

  private name(key: Buffer, bytes: Buffer): string {
    try {
      return decodeName(bytes)
    } catch (error) {
      throw this.corrupt(key, `names an origin that does not decode: ${(error as Error).message}`)
    }
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
