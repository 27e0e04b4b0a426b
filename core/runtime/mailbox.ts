/** Most items one mailbox processes in a row before the others get a turn. */
export const MAILBOX_SLICE = 64
/** Most items processed in one scheduler turn before it yields to I/O (timers, sockets). */
export const SCHEDULER_TURN_BUDGET = 8_192

/**
 * Runs the mailboxes that have work, one slice each in turn, in a single loop: a message
 * sent from one actor to another is picked up by the loop that is already running, not
 * by a new microtask per hop. The loop starts on a microtask, so sending never runs the
 * receiver's code in the sender's stack, and it yields to the event loop after a budget
 * of items so a flood of messages cannot starve sockets and timers.
 */
export class MailboxScheduler {
  private ready: Array<Mailbox<never> | undefined> = []
  private head = 0
  private scheduled = false

  constructor(private readonly turnBudget = SCHEDULER_TURN_BUDGET) {}

  /** Queues a mailbox that has work (called by the mailbox itself). */
  schedule(mailbox: Mailbox<never>): void {
    this.ready.push(mailbox)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.drain)
    }
  }

  private readonly drain = (): void => {
    let processed = 0
    while (this.head < this.ready.length) {
      const mailbox = this.ready[this.head]!
      this.ready[this.head++] = undefined
      if (this.head >= 1024 && this.head * 2 >= this.ready.length) {
        this.ready = this.ready.slice(this.head)
        this.head = 0
      }
      processed += mailbox.runSlice(MAILBOX_SLICE)
      if (processed >= this.turnBudget) {
        setImmediate(this.drain)
        return
      }
    }
    this.ready = []
    this.head = 0
    this.scheduled = false
  }
}

/** The scheduler of mailboxes created without one. */
const defaultScheduler = new MailboxScheduler()

/**
 * A FIFO that feeds one item at a time to an injected processing function: the unit
 * of "one message at a time per actor". Processing runs in its scheduler's loop, never
 * in the caller's stack; an item whose processing returns a promise holds the mailbox
 * until that promise settles.
 *
 * Each item may carry an argument, kept in the slot after it: a tell queues its command
 * name and its input as they are, so a message costs no object of its own (a fan-out of a
 * million tells would otherwise keep a million of them alive until processed).
 */
export class Mailbox<T, A = undefined> {
  /** Item, argument, item, argument, ...: two slots per queued item. */
  private slots: unknown[] = []
  private head = 0
  private running = false
  /** Who waits for the mailbox to go idle (created by the first `whenIdle`: most never have any). */
  private idleWaiters: Array<() => void> | undefined

  constructor(
    private readonly process: (item: T, arg: A) => void | Promise<void>,
    /** Most items waiting at once; `enqueue` refuses past it. */
    readonly capacity: number,
    /** Called when `process` throws; the mailbox goes on with the next item. */
    private readonly onError: (error: unknown) => void = () => {},
    private readonly scheduler: MailboxScheduler = defaultScheduler,
  ) {}

  /** Queues an item (with its argument); false when the mailbox is full. */
  enqueue(item: T, arg?: A): boolean {
    if (this.slots.length - this.head >= 2 * this.capacity) return false
    this.slots.push(item, arg)
    if (!this.running) {
      this.running = true
      this.scheduler.schedule(this as unknown as Mailbox<never>)
    }
    return true
  }

  /** Items waiting, not counting the one being processed. */
  get size(): number {
    return (this.slots.length - this.head) >> 1
  }

  /** True when nothing is queued or being processed. */
  get idle(): boolean {
    return !this.running
  }

  /** Resolves when the mailbox is next idle. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve()
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve))
  }

  /**
   * Processes up to `max` items (the scheduler calls this). Stops early when an item goes
   * asynchronous (the mailbox is rescheduled when it settles) or the queue is empty (the
   * mailbox goes idle). Returns how many items it processed.
   */
  runSlice(max: number): number {
    let count = 0
    const slots = this.slots
    while (this.head < slots.length) {
      if (count === max) {
        this.compact()
        this.scheduler.schedule(this as unknown as Mailbox<never>)
        return count
      }
      const head = this.head
      const item = slots[head] as T
      const arg = slots[head + 1] as A
      slots[head] = undefined
      slots[head + 1] = undefined
      this.head = head + 2
      count++
      let pending: void | Promise<void>
      try {
        pending = this.process(item, arg)
      } catch (error) {
        this.onError(error)
        continue
      }
      // Only an asynchronous item costs a promise turn; synchronous ones run back to back.
      if (pending !== undefined) {
        this.compact()
        pending.then(this.reschedule, this.rescheduleAfterError)
        return count
      }
    }
    this.slots = []
    this.head = 0
    this.running = false
    const waiters = this.idleWaiters
    if (waiters) {
      this.idleWaiters = undefined
      for (const resolve of waiters) resolve()
    }
    return count
  }

  /** Drops the processed slots once they are most of the array (a long-busy mailbox). */
  private compact(): void {
    if (this.head >= 2048 && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head)
      this.head = 0
    }
  }

  private readonly reschedule = (): void =>
    this.scheduler.schedule(this as unknown as Mailbox<never>)

  private readonly rescheduleAfterError = (error: unknown): void => {
    this.onError(error)
    this.scheduler.schedule(this as unknown as Mailbox<never>)
  }
}
