// The ports of a geo of several nodes: which node owns an actor, how a node takes an actor
// (a fencing epoch), and how a message reaches an actor on another node of the geo.
import type { AbortOptions } from '../lifecycle.js'
import type { ActorView } from '../runtime/actor-ref.js'
import type { AskOptions } from '../runtime/options.js'

/**
 * Where actors run when a geo has several nodes: each `(type, id)` is owned by one live node.
 * Absent on a single-node geo, where every actor runs here and nothing below is called.
 */
export interface ActorPlacement {
  /** This node's id, as `ownerOf` names it. */
  readonly selfId: string
  /** The id of the node that owns `type/id` in this node's current view of the geo. */
  ownerOf(type: string, id: string): string
  /**
   * Takes `type/id` before this node serves it: returns the fencing epoch its appends carry.
   * Throws NotOwnerError when this node does not own it (or its own membership has lapsed).
   */
  claim(type: string, id: string, options?: AbortOptions): Promise<number>
  /**
   * True while the actors this node claimed are surely still its own: its membership was
   * renewed less than the membership timeout ago. A node paused or cut off from Redis for
   * longer may have lost them without knowing; it answers no read of them until it renews.
   */
  holdsClaims(): boolean
  /** Resolves when the view of the geo changes, or after `maxWaitMs` (a wait before a retry). */
  whenChanged(maxWaitMs: number): Promise<void>
  /** Messages to actors owned by another node of the geo. */
  readonly remote: RemoteActors
}

/** An ask on its way to another node of the geo. */
export interface RemoteAsk {
  type: string
  id: string
  command: string
  input: unknown
  /** The asks this one is nested in (cycle detection across nodes). */
  chain?: readonly string[]
  /** Its idempotency key, when it was sent with one (the owner checks and records it). */
  idempotencyKey?: string
}

/** What the owner answered to a RemoteAsk: the reply, and whether it was a keyed command's first reply replayed. */
export interface RemoteReply {
  value: unknown
  replayed?: boolean
}

/**
 * The channel to the other nodes of the geo. Each call reaches one node once (a node that
 * receives it never forwards it again). A call that was surely not run rejects with
 * NotOwnerError, FencedError or MemberUnreachableError (safe to retry); a call whose fate is
 * unknown rejects with OutcomeUnknownError.
 */
export interface RemoteActors {
  /** Asks `request` of the actor on `node`, and waits for the reply. */
  ask(node: string, request: RemoteAsk, options?: AskOptions): Promise<RemoteReply>
  /** Tells a command to the actor on `node` (resolves once `node` has queued it). */
  tell(node: string, request: RemoteAsk): Promise<void>
  /** Reads the actor's state on `node`. */
  read(node: string, type: string, id: string, options?: AskOptions): Promise<ActorView>
}

/** A store that fences appends per actor: what a geo of several nodes claims actors with. */
export interface ActorFencing {
  /** Moves the actor's fencing epoch on and returns it: appends carrying an older one are refused from now on. */
  claimActor(type: string, id: string, options?: AbortOptions): Promise<number>
}
