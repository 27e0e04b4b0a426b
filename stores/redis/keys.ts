// Where the Redis store keeps what. Every key starts with the store's key root and is built
// by `RedisKeys.key`, so a key added later lands where the others are. Names inside keys are
// `encodeName` bytes, and an actor type is length-prefixed so that no two (type, id) pairs
// share a key whatever characters they contain.
//
// Two layouts, one builder. On one Redis the root is the prefix itself (`anywhere:vv`), the
// layout every store before Redis Cluster support wrote, kept so existing data reads as it is.
// On a Redis Cluster the root is the prefix as a hash tag (`{anywhere:}vv`): Redis hashes
// only the tag, so every key of a prefix is in one slot, on one master, and each script
// (which touches the vector, several origins' streams and several actors' indexes at once)
// runs there atomically. See docs/redis.md ("Redis Cluster") for what that scales and not.
import { encodeName, isAscii } from './encoding.js'

/** How keys are named: `plain` on one Redis, `hash-tagged` (one slot per prefix) on a cluster. */
export type KeyLayout = 'plain' | 'hash-tagged'

/** The keys of one store, all under one root built from `prefix`. */
export class RedisKeys {
  /** What every key starts with: the prefix, or `{prefix}` in the hash-tagged layout. */
  readonly root: string
  private readonly rootBytes: Buffer
  private readonly vectorKey: Buffer
  private readonly originPrefix: Buffer
  private readonly actorPrefix: Buffer
  private readonly snapshotPrefix: Buffer
  private readonly fencePrefix: Buffer
  private readonly changesKey: Buffer

  constructor(
    readonly prefix: string,
    readonly layout: KeyLayout = 'plain',
  ) {
    this.root = layout === 'hash-tagged' ? `{${prefix}}` : prefix
    this.rootBytes = Buffer.from(this.root)
    this.vectorKey = this.key('vv')
    this.originPrefix = this.key('origin:')
    this.actorPrefix = this.key('actor:')
    this.snapshotPrefix = this.key('snapshot:')
    this.fencePrefix = this.key('fence:')
    this.changesKey = this.key('changes')
  }

  /**
   * A key of this store: the root, then `name`. Every key is built here (a new kind of key
   * too), so that in the hash-tagged layout it shares the slot of every other key.
   */
  key(name: string | Buffer): Buffer {
    return Buffer.concat([this.rootBytes, typeof name === 'string' ? Buffer.from(name) : name])
  }

  /** Hash: origin → highest seq held (the version vector; also allocates local seqs). */
  vector(): Buffer {
    return this.vectorKey
  }

  /**
   * Stream of the store's writes, capped: one entry per append or ingest, its fields the
   * origins written and the highest seq each holds after it. What a node of a geo of several
   * nodes follows, whatever the number of origins (see event-follower.ts).
   */
  changes(): Buffer {
    return this.changesKey
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

  /** The vector key of the other layout: data a store of this prefix wrote under it. */
  otherLayoutVector(): Buffer {
    return new RedisKeys(this.prefix, this.layout === 'plain' ? 'hash-tagged' : 'plain').vector()
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
    return `${this.root}geo:members`
  }

  /** Hash of the geo's nodes: node id → JSON `{ url, startedAt }` (kept while the node is a member). */
  memberInfo(): string {
    return `${this.root}geo:member-info`
  }

  /** String: the fabric key of a geo of several nodes (protobuf; see docs/fabric.md), set by its first node. */
  fabricKey(): string {
    return `${this.root}geo:fabric-key`
  }

  /** Hash of the retirement notices the geo's fabric holds: PeerId → signature and body (docs/fabric.md). */
  retiredNotices(): string {
    return `${this.root}geo:retired-notices`
  }

  /** String: who holds the lease of a role of the geo (`replicator`), expiring unless renewed. */
  lease(role: string): string {
    return `${this.root}geo:lease:${role}`
  }

  /**
   * String: the one node that runs on this prefix without `--members` (JSON: node id, host,
   * pid, since, token), expiring unless renewed; deleted on a clean stop.
   */
  owner(): Buffer {
    return this.key('owner')
  }

  /**
   * String: the token of the node that last took the prefix (`owner`); kept when the lease
   * expires or is given up. Every append of that node is fenced on it.
   */
  ownerToken(): Buffer {
    return this.key('owner:token')
  }

  /** String: the secret the geo's nodes present to each other on their internal channel. */
  geoSecret(): string {
    return `${this.root}geo:secret`
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
