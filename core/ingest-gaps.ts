// The ingest gap rule, shared by every EventStore: an origin's seqs never have holes.
import { compareOriginSeq, type EventRecord } from './event.js'

/** What an ingest keeps: the events to store, and each origin's highest seq after them. */
export interface GaplessIngest {
  /** The events to store, in origin then seq order. */
  readonly accepted: EventRecord[]
  /** For each origin with an accepted event, the seq of its last accepted event. */
  readonly highestSeqs: Map<string, number>
}

/**
 * Applies the ingest gap rule to a batch of replicated events: sorted by origin and seq, an
 * event is kept only if its seq is exactly one past the highest its origin holds (counting
 * the events kept before it in this batch). An event already held is a duplicate and is
 * dropped; one that would leave a gap is dropped too, and the sender sends it again once
 * the missing seqs have arrived. `heldSeq` gives an origin's highest seq in the store.
 */
export function gaplessIngest(
  events: readonly EventRecord[],
  heldSeq: (origin: string) => number,
): GaplessIngest {
  const highestSeqs = new Map<string, number>()
  const accepted: EventRecord[] = []
  for (const event of [...events].sort(compareOriginSeq)) {
    const held = highestSeqs.get(event.origin) ?? heldSeq(event.origin)
    if (event.seq !== held + 1) continue // held already, or a gap
    highestSeqs.set(event.origin, event.seq)
    accepted.push(event)
  }
  return { accepted, highestSeqs }
}
