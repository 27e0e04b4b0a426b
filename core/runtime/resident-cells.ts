import type { Clock } from '../clock.js'
import type { ActorCell } from './actor-cell.js'
import type { RuntimeSettings } from './options.js'
import type { ReplicaEngine } from './replica.js'
import type { RuntimeTaps } from './runtime-taps.js'

/**
 * The actors held in memory, and their eviction: an idle sweep drops those unused for
 * `idleEvictMs`, and past `maxActorsInMemory` the oldest idle ones go first. An evicted
 * actor persists a snapshot on its way out and is rehydrated on its next message. A cell
 * with work in its mailbox is never evicted.
 */
export class ResidentCells {
  private readonly byAddress = new Map<string, ActorCell>()
  /** The same cells by type then id: the hot lookup builds no address string. */
  private readonly byType = new Map<string, Map<string, ActorCell>>()
  private cancelSweep: (() => void) | undefined
  private sweeping = false

  constructor(
    private readonly settings: Pick<RuntimeSettings, 'maxActorsInMemory' | 'idleEvictMs'>,
    private readonly clock: Clock,
    private readonly replica: ReplicaEngine,
    private readonly taps: RuntimeTaps,
  ) {}

  /** How many actors are in memory. */
  get size(): number {
    return this.byAddress.size
  }

  /** The cell of `type/id`, if it is in memory. */
  get(type: string, id: string): ActorCell | undefined {
    return this.byType.get(type)?.get(id)
  }

  /** The cell at `address` (`type/id`), if it is in memory. */
  at(address: string): ActorCell | undefined {
    return this.byAddress.get(address)
  }

  /** Every cell in memory, oldest loaded first. */
  values(): IterableIterator<ActorCell> {
    return this.byAddress.values()
  }

  /** Holds a new cell, evicting idle others past the bound (never the new one). */
  add(cell: ActorCell): void {
    this.byAddress.set(cell.address, cell)
    let ofType = this.byType.get(cell.definition.type)
    if (!ofType) this.byType.set(cell.definition.type, (ofType = new Map<string, ActorCell>()))
    ofType.set(cell.id, cell)
    if (this.byAddress.size > this.settings.maxActorsInMemory) this.evictOverCapacity(cell)
  }

  /** Forgets every cell (the caller has persisted their snapshots): refs that cached one look it up again. */
  clear(): void {
    for (const cell of this.byAddress.values()) cell.evicted = true
    this.byAddress.clear()
    this.byType.clear()
  }

  /** Starts the idle sweep, every half `idleEvictMs` (at least every second). */
  startSweep(): void {
    this.sweeping = true
    this.scheduleSweep()
  }

  /** Stops the idle sweep. */
  stopSweep(): void {
    this.sweeping = false
    this.cancelSweep?.()
  }

  private scheduleSweep(): void {
    const every = Math.max(1_000, Math.floor(this.settings.idleEvictMs / 2))
    this.cancelSweep = this.clock.setTimer(every, () => {
      this.sweepIdle()
      if (this.sweeping) this.scheduleSweep()
    })
  }

  private sweepIdle(): void {
    const cutoff = this.clock.now() - this.settings.idleEvictMs
    for (const cell of this.byAddress.values())
      if (cell.lastUsed <= cutoff && cell.idle) this.evict(cell, 'idle')
  }

  /** Evicts idle cells, oldest first, down to the bound; never `keep` (the cell being handed out). */
  private evictOverCapacity(keep: ActorCell): void {
    // Map iteration is insertion order: the oldest-loaded cells come first. When every other
    // cell is busy the bound is exceeded for a while rather than evicting a cell in use.
    for (const cell of this.byAddress.values()) {
      if (this.byAddress.size <= this.settings.maxActorsInMemory) return
      if (cell !== keep && cell.idle) this.evict(cell, 'capacity')
    }
  }

  private evict(cell: ActorCell, reason: 'idle' | 'capacity'): void {
    if (!cell.idle) return
    this.byAddress.delete(cell.address)
    this.byType.get(cell.definition.type)?.delete(cell.id)
    cell.evicted = true
    void this.replica.persistSnapshot(cell)
    this.taps.evicted(cell, reason)
  }
}
