// Where the Redis store keeps what. Every key starts with the configured prefix; names
// inside keys are `encodeName` bytes, and an actor type is length-prefixed so that no two
// (type, id) pairs share a key whatever characters they contain.
import { encodeName, isAscii } from './encoding.js'

/** The keys of one store, all under `prefix`. */
export class RedisKeys {
  private readonly vectorKey: Buffer
  private readonly originPrefix: Buffer
  private readonly actorPrefix: Buffer
  private readonly snapshotPrefix: Buffer
  private readonly fencePrefix: Buffer

  constructor(readonly prefix: string) {
    this.vectorKey = Buffer.from(`${prefix}vv`)
    this.originPrefix = Buffer.from(`${prefix}origin:`)
    this.actorPrefix = Buffer.from(`${prefix}actor:`)
    this.snapshotPrefix = Buffer.from(`${prefix}snapshot:`)
    this.fencePrefix = Buffer.from(`${prefix}fence:`)
  }

  /** Hash: origin → highest seq held (the version vector; also allocates local seqs). */
  vector(): Buffer {
    return this.vectorKey
  }

  /** Stream of one origin's events, entry id `<seq>-0`, one field `e` holding the member. */
  origin(origin: Buffer): Buffer {
    return Buffer.concat([this.originPrefix, origin])
  }

  /** Sorted set of one actor's events: score 0, member `sort key ‖ body`, so lex order is merge order. */
  actor(actorType: string, actorId: string): Buffer {
    return this.actorKey(this.actorPrefix, actorType, actorId)
  }

  /** Hash of one actor's snapshot: `state` (msgpack), `upto` (lex bound), `count`. */
  snapshot(actorType: string, actorId: string): Buffer {
    return this.actorKey(this.snapshotPrefix, actorType, actorId)
  }

  /**
   * String holding one actor's fencing epoch (a geo of several nodes): bumped by the node that
   * claims the actor; the append script refuses an append that carries an older one.
   */
  fence(actorType: string, actorId: string): Buffer {
    return this.actorKey(this.fencePrefix, actorType, actorId)
  }

  /** Sorted set of the geo's live nodes: node id → when its registration expires (Redis time, ms). */
  members(): string {
    return `${this.prefix}geo:members`
  }

  /** Hash of the geo's nodes: node id → JSON `{ url, startedAt }` (kept while the node is a member). */
  memberInfo(): string {
    return `${this.prefix}geo:member-info`
  }

  /** String: the secret the geo's nodes present to each other on their internal channel. */
  geoSecret(): string {
    return `${this.prefix}geo:secret`
  }

  private actorKey(prefix: Buffer, actorType: string, actorId: string): Buffer {
    // The common case in one allocation: ASCII names are their own bytes.
    if (isAscii(actorType) && isAscii(actorId))
      return Buffer.concat([
        prefix,
        Buffer.from(`${actorType.length}:${actorType}:${actorId}`, 'latin1'),
      ])
    const type = encodeName(actorType)
    return Buffer.concat([prefix, Buffer.from(`${type.length}:`), type, COLON, encodeName(actorId)])
  }
}

const COLON = Buffer.from(':')
