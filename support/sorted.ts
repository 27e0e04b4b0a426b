// Sorted arrays kept in an order given by a comparator (the merge order, for events).

/** The index of the first item of the sorted `list` that sorts after `item`. */
export function upperBound<T, K>(
  list: readonly T[],
  item: K,
  compare: (a: T, b: K) => number,
): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compare(list[mid]!, item) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Inserts `item` into the sorted `list`; returns its index. */
export function insertSorted<T>(list: T[], item: T, compare: (a: T, b: T) => number): number {
  // Appends are the common case: check the end before searching.
  const last = list.at(-1)
  if (last === undefined || compare(last, item) < 0) {
    list.push(item)
    return list.length - 1
  }
  const index = upperBound(list, item, compare)
  list.splice(index, 0, item)
  return index
}
