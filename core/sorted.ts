import { compareEventKeys, type EventKey } from './event.js'

/** The index of the first key in the sorted `keys` that sorts after `key`. */
export function upperBound<T extends EventKey>(keys: readonly T[], key: EventKey): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareEventKeys(keys[mid]!, key) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Inserts `item` into the sorted `list` in merge order; returns its index. */
export function insertSorted<T extends EventKey>(list: T[], item: T): number {
  // Appends are the common case: check the end before searching.
  const last = list.at(-1)
  if (!last || compareEventKeys(last, item) < 0) {
    list.push(item)
    return list.length - 1
  }
  const index = upperBound(list, item)
  list.splice(index, 0, item)
  return index
}
