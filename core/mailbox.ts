/**
 * A FIFO that feeds one item at a time to an injected processing function: the unit
 * of "one message at a time per actor". Processing starts on a microtask after the
 * first enqueue, so `enqueue` never runs user code in the caller's stack.
 */
export class Mailbox<T> {
  private items: (T | undefined)[] = []
  private head = 0
  private running = false
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly process: (item: T) => void | Promise<void>,
    /** Most items waiting at once; `enqueue` refuses past it. */
    readonly capacity: number,
    /** Called when `process` throws; the mailbox goes on with the next item. */
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Queues an item; false when the mailbox is full. */
  enqueue(item: T): boolean {
    if (this.items.length - this.head >= this.capacity) return false
    this.items.push(item)
    if (!this.running) {
      this.running = true
      queueMicrotask(this.resume)
    }
    return true
  }

  /** Items waiting, not counting the one being processed. */
  get size(): number {
    return this.items.length - this.head
  }

  /** True when nothing is queued or being processed. */
  get idle(): boolean {
    return !this.running
  }

  /** Resolves when the mailbox is next idle. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Feeds items to `process` until the queue is empty or `process` goes asynchronous. */
  private run(): void {
    while (this.head < this.items.length) {
      const item = this.items[this.head] as T
      this.items[this.head++] = undefined
      if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
      let pending: void | Promise<void>
      try {
        pending = this.process(item)
      } catch (error) {
        this.onError(error)
        continue
      }
      // Only an asynchronous item costs a promise turn; synchronous ones run back to back.
      if (pending !== undefined) return void pending.then(this.resume, this.resumeAfterError)
    }
    this.items = []
    this.head = 0
    this.running = false
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  private readonly resume = (): void => this.run()

  private readonly resumeAfterError = (error: unknown): void => {
    this.onError(error)
    this.run()
  }
}
