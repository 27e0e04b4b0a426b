import type { RouteReason } from '../../../core/index.js'

/** What routing reads of one geo (a snapshot of the edge's view of it). */
export interface GeoView {
  readonly name: string
  /** Up: answered its last probes ready (or overloaded); down: refused, timed out or unready. */
  readonly up: boolean
  /** Distance: the lowest probe round trip of the recent window; undefined before any. */
  readonly rttMs: number | undefined
  /** The geo says it is overloaded (its `/readyz` answers 503 `overloaded`). */
  readonly overloaded: boolean
  /** The share of its requests it sheds now, in [0, 1]. */
  readonly shedShare: number
}

/** Where one request goes, and why when that is not the nearest geo. */
export interface RouteChoice<G extends GeoView> {
  readonly geo: G
  /** The nearest geo, when the request goes elsewhere. */
  readonly from?: G
  readonly reason?: RouteReason
}

/** Nearest first: by distance, geos never measured last, then by name (a stable order). */
export function byDistance<G extends GeoView>(geos: readonly G[]): G[] {
  return [...geos].sort(
    (a, b) =>
      (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )
}

/**
 * The geo for one request: the nearest geo that is up; when it is overloaded, with
 * probability `shedShare`, the next nearest up geo that is not overloaded instead. Geos in
 * `exclude` (already tried for this request: two nodes of one geo are two entries, so this
 * is by entry, not by name) are skipped, and the choice then says `retry`.
 * Undefined when no geo is up. With the nearest geo up and not overloaded, it is always
 * the choice: nothing moves unless it must.
 */
export function chooseGeo<G extends GeoView>(
  geos: readonly G[],
  random: () => number,
  exclude?: ReadonlySet<G>,
): RouteChoice<G> | undefined {
  const ordered = byDistance(geos)
  const nearest = ordered[0]
  const candidates = ordered.filter((g) => g.up && !exclude?.has(g))
  const first = candidates[0]
  if (!nearest || !first) return undefined
  const retrying = exclude !== undefined && exclude.size > 0
  if (first.overloaded && first.shedShare > 0 && random() < first.shedShare) {
    const relief = candidates.find((g) => g !== first && !g.overloaded)
    if (relief) return { geo: relief, from: nearest, reason: retrying ? 'retry' : 'overloaded' }
  }
  if (first === nearest) return { geo: first }
  return { geo: first, from: nearest, reason: retrying ? 'retry' : 'down' }
}
