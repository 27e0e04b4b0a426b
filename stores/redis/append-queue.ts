// Appends that arrive together go to Redis as one script call: the queue collects them
// until a batch is full or the event-loop turn ends, then hands each batch to the store.
import { type EventDraft, type EventRecord } from '../../core/index.js'
import { onAbort } from '../../support/abort.js'

/** One `append` call waiting to be sent in the next batch. */
export interface PendingAppend {
  readonly drafts: readonly EventDraft[]
  /** Per draft: its actor index key, sort-key head (no seq) and body. */
  readonly encoded: readonly { actor: Buffer; head: Buffer; body: Buffer }[]
  /** The fencing epoch the append holds its actor under (a geo of several nodes). */
  readonly fence: number | undefined
  settled: boolean
  resolve(records: EventRecord[]): void
  reject(error: unknown): void
}

/** Batches queued appends of at most `maxBatchEvents` events each and passes them to `send`. */
export class AppendQueue {
  private queue: PendingAppend[] = []
  private queuedEvents = 0
  private flushTimer: NodeJS.Immediate | undefined

  constructor(
    private readonly maxBatchEvents: number,
    private readonly send: (batch: PendingAppend[]) => void,
  ) {}

  /**
   * Queues one append; resolves with its records once `send` settles it. An abort rejects
   * it at once with `AbortedError` (if its batch has gone out, Redis may still store it).
   */
  enqueue(
    drafts: readonly EventDraft[],
    encoded: PendingAppend['encoded'],
    signal: AbortSignal | undefined,
    fence?: number,
  ): Promise<EventRecord[]> {
    return new Promise<EventRecord[]>((resolve, reject) => {
      let stopListening = (): void => {}
      const pending: PendingAppend = {
        drafts,
        encoded,
        fence,
        settled: false,
        resolve: (records) => {
          stopListening()
          resolve(records)
        },
        reject: (error) => {
          stopListening()
          reject(error)
        },
      }
      stopListening = onAbort(signal, 'append', (error) => settleAppend(pending, error))
      if (pending.settled) return
      this.queue.push(pending)
      this.queuedEvents += drafts.length
      // A full batch goes at once, so Redis works on it while the next one fills up.
      if (this.queuedEvents >= this.maxBatchEvents) this.flush()
      else this.flushTimer ??= setImmediate(() => this.flush())
    })
  }

  /** Sends every queued append: batches of up to `maxBatchEvents`, one `send` each. */
  flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer)
    this.flushTimer = undefined
    this.queuedEvents = 0
    const queued = this.queue.filter((pending) => !pending.settled)
    this.queue = []
    let batch: PendingAppend[] = []
    let events = 0
    for (const pending of queued) {
      if (batch.length > 0 && events + pending.drafts.length > this.maxBatchEvents) {
        this.send(batch)
        batch = []
        events = 0
      }
      batch.push(pending)
      events += pending.drafts.length
    }
    if (batch.length > 0) this.send(batch)
  }
}

/** Resolves or rejects a pending append, once; later outcomes are ignored. */
export function settleAppend(pending: PendingAppend, outcome: EventRecord[] | Error): void {
  if (pending.settled) return
  pending.settled = true
  if (outcome instanceof Error) pending.reject(outcome)
  else pending.resolve(outcome)
}
