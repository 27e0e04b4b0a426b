import { ConfigError, type TapKind } from '../core/index.js'
import { didYouMean } from './suggest.js'

// Every tap kind of core/taps.ts, checked by the compiler both ways: a kind missing here or
// one that does not exist there fails the type check.
const KINDS = {
  'message.received': true,
  'message.handled': true,
  'message.failed': true,
  'event.appended': true,
  'event.ingested': true,
  'event.reordered': true,
  'event.unapplied': true,
  'actor.evicted': true,
  'actor.rehydrated': true,
  'store.recovered': true,
  'store.unavailable': true,
  'store.available': true,
  'peer.connected': true,
  'peer.lost': true,
  'peer.refused': true,
  'partition.healed': true,
  'replication.out': true,
  'replication.in': true,
  'frame.rejected': true,
  'clock.skew': true,
  'event.refused': true,
  'geo.overloaded': true,
  'geo.recovered': true,
  'request.routed': true,
  'node.started': true,
  'node.stopping': true,
  'member.joined': true,
  'member.left': true,
  'actor.fenced': true,
  'replicator.changed': true,
} as const satisfies Record<TapKind, true>

/** Every tap kind a node publishes. */
export const TAP_KINDS: readonly TapKind[] = Object.keys(KINDS) as TapKind[]

/** `a.b,c.d` → the kinds, refusing an unknown one with the nearest known kind. */
export function parseTapKinds(list: string): TapKind[] {
  const kinds = list
    .split(',')
    .map((kind) => kind.trim())
    .filter((kind) => kind.length > 0)
  for (const kind of kinds)
    if (!(kind in KINDS))
      throw new ConfigError(
        `unknown tap kind '${kind}'${didYouMean(kind, TAP_KINDS)} (kinds: ${TAP_KINDS.join(', ')})`,
      )
  return kinds as TapKind[]
}
