/**
 * A map that keeps its `capacity` most recently added entries (first in, first out): the file
 * store's caches of decoded events and snapshots. A capacity of 0 keeps nothing.
 */
export class RecentCache<K, V> {
  private readonly map = new Map<K, V>()
  private readonly order: K[] = []
  private next = 0

  constructor(private readonly capacity: number) {}

  /** The value kept for `key`, if it is still here. */
  get(key: K): V | undefined {
    return this.map.get(key)
  }

  /** Keeps `value` for `key`, dropping the oldest entry when full. */
  set(key: K, value: V): void {
    if (this.capacity === 0) return
    if (this.map.has(key)) {
      this.map.set(key, value) // replaced in place: keeps its turn to leave
      return
    }
    if (this.order.length === this.capacity) this.map.delete(this.order[this.next]!)
    this.order[this.next] = key
    this.next = (this.next + 1) % this.capacity
    this.map.set(key, value)
  }

  /** Drops every entry. */
  clear(): void {
    this.map.clear()
    this.order.length = 0
    this.next = 0
  }
}
