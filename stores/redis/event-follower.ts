// Follows what the other nodes of a geo store in the geo's Redis. Every write script adds an
// entry to one capped stream of writes (keys.ts, `changes`): the origins it moved and their
// new highest seq. A node waits on that one stream with a blocking XREAD, on a connection of
// its own (a blocked connection serves nothing else), then reads the events of the origins
// that moved. It hears of an event within a round trip of its commit, asks Redis nothing
// while the geo is quiet, and its reads cost the same whether the store holds 2 origins or
// 20,000 (a blocking XREAD over every origin's stream named them all on every read).
import {
  NotRunningError,
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
import { CHANGES_KEPT } from './scripts.js'

/** XREAD's reply: per stream, its key and its entries (id, then the fields). */
type XReadReply = [Buffer, [Buffer, Buffer[]][]][] | null

/** How the follower decodes a stream entry (the store's checks: a bad one is StoreCorruptError). */
export type DecodeEntry = (stream: Buffer, member: Buffer) => EventRecord

/** Entries of the stream of writes taken by one `changes`. */
const CHANGES_PER_READ = 1_000
/** Where the stream of writes starts: before its first entry. */
const START = '0-0'

/** A stream entry id (`<ms>-<seq>`) as a number pair, for comparing two ids. */
function entryId(id: string): [number, number] {
  const [ms = '0', seq = '0'] = id.split('-')
  return [Number(ms), Number(seq)]
}

/** Whether stream entry id `a` comes after `b`. */
function after(a: string, b: string): boolean {
  const [am, as] = entryId(a)
  const [bm, bs] = entryId(b)
  return am > bm || (am === bm && as > bs)
}

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
    private readonly logger: Logger,
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
  ): Promise<{ position: string; written: VersionVector; intact: boolean }> {
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
    let read = 0
    for (const [, entries] of reply ?? [])
      for (const [id, fields] of entries) {
        read++
        position = id.toString('latin1')
        const moved = this.moved(fields)
        if (typeof moved === 'string') {
          // Passed over, not retried for ever: what it named is found by the next check.
          this.logger.warn('store follower: an entry of the stream of writes cannot be read', {
            stream: key.toString('utf8'),
            entry: position,
            problem: moved,
          })
          continue
        }
        for (const [origin, seq] of moved) if (seq > (written[origin] ?? 0)) written[origin] = seq
      }
    // XREAD starts at the first entry after `from` that is still there: entries trimmed past
    // it are skipped without a word. A trim past `from` leaves at least CHANGES_KEPT entries
    // after it, so only a full page can follow one: then whether `from` is still held is
    // asked (a trim just after this read says not intact too: the vector is compared, no more).
    const intact = read < CHANGES_PER_READ || (await this.check(from)).intact
    return { position, written, intact }
  }

  async check(from: string): Promise<{ intact: boolean; position: string }> {
    await this.connect()
    const key = this.keys.changes()
    const [first, last, length] = await Promise.all([
      this.client.xrangeBuffer(key, '-', '+', 'COUNT', 1) as Promise<[Buffer, Buffer[]][]>,
      this.client.xrevrangeBuffer(key, '+', '-', 'COUNT', 1) as Promise<[Buffer, Buffer[]][]>,
      this.client.xlen(key),
    ])
    const firstId = first[0]?.[0].toString('latin1')
    const position = last[0]?.[0].toString('latin1') ?? START
    // Gone back: `from` is past its end (Redis lost data, or a replica behind took over).
    if (after(from, position)) return { intact: false, position }
    // Trimmed past `from`: only ever trimmed (never deleted from), and only once that long.
    const trimmed =
      firstId !== undefined && after(firstId, from) && (from !== START || length >= CHANGES_KEPT)
    return { intact: !trimmed, position }
  }

  /** The (origin, seq) pairs of an entry of the stream of writes, or what is wrong with it. */
  private moved(fields: Buffer[]): [string, number][] | string {
    if (fields.length % 2 !== 0) return 'its fields are not pairs'
    const pairs: [string, number][] = []
    for (let i = 0; i < fields.length; i += 2) {
      let origin: string
      try {
        origin = decodeName(fields[i]!)
      } catch (error) {
        return `an origin does not decode: ${(error as Error).message}`
      }
      const seq = Number(fields[i + 1]!.toString('latin1'))
      if (!Number.isSafeInteger(seq) || seq < 1) return `the seq of ${origin} is not one`
      pairs.push([origin, seq])
    }
    return pairs
  }

  async read(after: Readonly<VersionVector>, limit: number): Promise<EventRecord[]> {
    await this.connect()
    const origins = Object.keys(after)
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
    if (this.closed) throw new NotRunningError('the store follower is closed')
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
