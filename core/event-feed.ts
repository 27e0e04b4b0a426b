import type { EventRecord } from './event.js'
import type { Logger } from './logger.js'

/** A batch of events that has just become durable in this geo's store. */
export interface DurableEvents {
  readonly events: readonly EventRecord[]
  /** The fabric peer the events came from when they were replicated; absent for local writes. */
  readonly from?: string
}

/**
 * The typed feed of events new to this geo's store: the data path replication reads.
 * Unlike a tap, a subscriber here is part of the system (it must keep up; it must not throw).
 */
export interface EventFeed {
  /** Calls `listener` with every batch that becomes durable from now on; returns the unsubscribe. */
  subscribe(listener: (batch: DurableEvents) => void): () => void
}

/** The feed a runtime publishes to: listeners called in order, one that throws is logged and skipped. */
export class DurableEventFeed implements EventFeed {
  private readonly listeners = new Set<(batch: DurableEvents) => void>()

  constructor(private readonly logger: Logger) {}

  subscribe(listener: (batch: DurableEvents) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Hands a durable batch to every listener. */
  publish(batch: DurableEvents): void {
    for (const listener of this.listeners) {
      try {
        listener(batch)
      } catch (error) {
        this.logger.error('an event feed listener failed', { error })
      }
    }
  }
}
