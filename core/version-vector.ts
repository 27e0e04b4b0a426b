/**
 * For each origin, the highest `seq` a store holds with no gap below it.
 * Two replicas compare vectors to find exactly what the other lacks.
 */
export type VersionVector = Record<string, number>

/** A run of one origin's events, `fromSeq` to `toSeq` inclusive. */
export interface SeqRange {
  readonly origin: string
  readonly fromSeq: number
  readonly toSeq: number
}

/** The ranges that `mine` holds and `theirs` lacks. */
export function missingRanges(mine: VersionVector, theirs: VersionVector): SeqRange[] {
  const ranges: SeqRange[] = []
  for (const [origin, toSeq] of Object.entries(mine)) {
    const held = theirs[origin] ?? 0
    if (toSeq > held) ranges.push({ origin, fromSeq: held + 1, toSeq })
  }
  return ranges
}

/** The element-wise maximum of two vectors. */
export function mergeVectors(a: VersionVector, b: VersionVector): VersionVector {
  const merged: VersionVector = { ...a }
  for (const [origin, seq] of Object.entries(b)) merged[origin] = Math.max(merged[origin] ?? 0, seq)
  return merged
}

/** True when `a` holds everything `b` holds. */
export function dominates(a: VersionVector, b: VersionVector): boolean {
  return Object.entries(b).every(([origin, seq]) => (a[origin] ?? 0) >= seq)
}

/** How many events `a` holds that `b` lacks. */
export function countMissing(a: VersionVector, b: VersionVector): number {
  return missingRanges(a, b).reduce((sum, r) => sum + r.toSeq - r.fromSeq + 1, 0)
}
