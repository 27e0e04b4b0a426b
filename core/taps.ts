import { Observable, Subject, filter } from 'rxjs'
import type { EventRecord } from './event.js'
import type { Hlc } from './hlc.js'

/** Most concurrent events an `event.reordered` tap lists (it gives the full count). */
export const MAX_TAP_CONCURRENT = 32

/** An event named on a tap by its place in the merge order and where it was written. */
export interface ConcurrentEvent {
  readonly origin: string
  readonly seq: number
  readonly hlc: Hlc
  readonly type: string
}
import type { LoadSignal } from './readiness.js'

/** Why a request went to another geo than the nearest: it was down, overloaded, or failed mid-request (retried). */
export type RouteReason = 'down' | 'overloaded' | 'retry'

/** An actor's address on the taps. */
export interface TapActor {
  readonly type: string
  readonly id: string
}

/**
 * Every significant step of a node, as one discriminated union. `at` is the node
 * clock's time in ms. New kinds may be added; existing fields never change meaning.
 */
export type TapEvent = { readonly at: number } & (
  | { kind: 'message.received'; actor: TapActor; command: string }
  | {
      kind: 'message.handled'
      actor: TapActor
      command: string
      durationMs: number
      emitted: number
    }
  | { kind: 'message.failed'; actor: TapActor; command: string; error: string; message: string }
  | { kind: 'event.appended'; events: readonly EventRecord[] }
  | { kind: 'event.ingested'; events: readonly EventRecord[]; from?: string }
  | {
      kind: 'event.reordered'
      actor: TapActor
      /** The earliest late event: it sorted before events already applied. */
      event: EventRecord
      /** Events folded again. */
      refolded: number
      /** The events already applied that the late one sorted before (its concurrent writes), at most MAX_TAP_CONCURRENT. */
      concurrent: readonly ConcurrentEvent[]
      /** How many there were in all. */
      concurrentCount: number
      /** The actor's state before the re-fold, and after it. */
      stateBefore: unknown
      stateAfter: unknown
    }
  | { kind: 'event.unapplied'; actor: TapActor; event: EventRecord; reason: string }
  | { kind: 'actor.evicted'; actor: TapActor; reason: 'idle' | 'capacity' }
  | { kind: 'actor.rehydrated'; actor: TapActor; events: number; fromSnapshot: boolean }
  | { kind: 'store.recovered'; file: string; truncatedBytes: number }
  | { kind: 'store.unavailable'; message: string }
  | { kind: 'store.available' }
  | { kind: 'peer.connected'; peer: string; geo: string }
  | { kind: 'peer.lost'; peer: string; geo: string; reason: string }
  | { kind: 'peer.refused'; peer: string; reason: string }
  | {
      kind: 'partition.healed'
      peer: string
      geo: string
      durationMs: number
      eventsIn: number
      eventsOut: number
      convergeMs: number
    }
  | { kind: 'replication.out'; peer: string; geo: string; events: number }
  | { kind: 'replication.in'; peer: string; geo: string; events: number }
  | { kind: 'frame.rejected'; peer: string; reason: string }
  /** A replicated event stamped beyond the clock's skew bound: held back (not stored) until the clock catches up. */
  | { kind: 'clock.skew'; peer: string; origin: string; seq: number; aheadMs: number }
  /** Replicated events not signed by the key their origin names: refused before anything is stored. */
  | { kind: 'event.refused'; peer: string; origin: string; seq: number; reason: string }
  /** A load signal passed its limit: the node answers `/readyz` with 503 `overloaded`. */
  | { kind: 'geo.overloaded'; geo: string; signal: LoadSignal; value: number; limit: number }
  /** Every load signal is back under its recovery fraction; `signal` is the one that had tripped. */
  | { kind: 'geo.recovered'; geo: string; signal: LoadSignal; overloadedMs: number }
  /** An edge sent a request to another geo than the nearest one (`to` is absent when none could take it). */
  | { kind: 'request.routed'; from: string; to?: string; reason: RouteReason }
  | { kind: 'node.started'; nodeId: string; geo: string }
  /** A node joined this node's view of the geo (this node itself too, when it registers or rejoins). */
  | { kind: 'member.joined'; nodeId: string; url: string; startedAt: number }
  /** A node left this node's view of the geo: it stopped, or stopped renewing (`reason`). */
  | { kind: 'member.left'; nodeId: string; reason: 'stopped' | 'expired' }
  /** The store refused an append of this node: another node of the geo has taken the actor. */
  | { kind: 'actor.fenced'; actor: TapActor; message: string }
  /** This node started (`replicating`) or stopped replicating for its geo of several nodes. */
  | { kind: 'replicator.changed'; nodeId: string; replicating: boolean }
  | { kind: 'node.stopping'; nodeId: string; geo: string }
)

export type TapKind = TapEvent['kind']
export type TapOf<K extends TapKind> = Extract<TapEvent, { kind: K }>

/**
 * A node's tap stream. Publishing costs nothing measurable when nobody listens, and a
 * subscriber to some kinds (say, the fabric to `event.appended`) does not make hot paths
 * build the tap objects of the other kinds: they ask `wants(kind)` first.
 */
export class Taps {
  private readonly subject = new Subject<TapEvent>()
  /** Subscribers to every kind. */
  private everything = 0
  /** Subscribers per kind, through `of()`. */
  private readonly byKind = new Map<string, number>()

  /** Every tap event of this node. */
  readonly events$: Observable<TapEvent> = new Observable<TapEvent>((subscriber) => {
    this.everything++
    const subscription = this.subject.subscribe(subscriber)
    return () => {
      this.everything--
      subscription.unsubscribe()
    }
  })

  /** True when anyone listens to anything. */
  get observed(): boolean {
    return this.subject.observed
  }

  /** True when someone listens to tap events of this kind (lets hot paths skip building them). */
  wants(kind: TapKind): boolean {
    return this.everything > 0 || (this.byKind.size > 0 && (this.byKind.get(kind) ?? 0) > 0)
  }

  /** Publishes a tap event. */
  publish(event: TapEvent): void {
    if (this.subject.observed) this.subject.next(event)
  }

  /** Only the tap events of the given kinds. */
  of<K extends TapKind>(...kinds: K[]): Observable<TapOf<K>> {
    const wanted = new Set<string>(kinds)
    return new Observable<TapOf<K>>((subscriber) => {
      for (const kind of wanted) this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
      const subscription = this.subject
        .pipe(filter((e): e is TapOf<K> => wanted.has(e.kind)))
        .subscribe(subscriber)
      return () => {
        for (const kind of wanted) {
          const left = (this.byKind.get(kind) ?? 1) - 1
          if (left > 0) this.byKind.set(kind, left)
          else this.byKind.delete(kind)
        }
        subscription.unsubscribe()
      }
    })
  }

  /** Only the tap events about one actor (messages, reorderings, eviction, and its events). */
  forActor(type: string, id: string): Observable<TapEvent> {
    return this.events$.pipe(filter((e) => tapConcernsActor(e, type, id)))
  }

  /** Ends the stream: subscribers complete. */
  complete(): void {
    this.subject.complete()
  }
}

/** True when a tap event is about the actor `type/id`. */
export function tapConcernsActor(e: TapEvent, type: string, id: string): boolean {
  if ('actor' in e) return e.actor.type === type && e.actor.id === id
  if ('events' in e && Array.isArray(e.events))
    return e.events.some((ev: EventRecord) => ev.actorType === type && ev.actorId === id)
  return false
}
