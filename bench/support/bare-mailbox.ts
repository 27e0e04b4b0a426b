/**
 * The floor of the actor benchmarks: a bare array-queue mailbox with no persistence, no
 * validation and no bookkeeping. Like the runtime's mailbox it processes one item at a time
 * and starts on a microtask after the first enqueue, so the comparison isolates what the
 * runtime adds on top of "a FIFO plus a processing function".
 */
export class BareMailbox<T> {
  private items: (T | undefined)[] = []
  private head = 0
  private running = false

  constructor(private readonly process: (item: T) => void) {}

  enqueue(item: T): void {
    this.items.push(item)
    if (!this.running) {
      this.running = true
      queueMicrotask(this.run)
    }
  }

  private readonly run = (): void => {
    while (this.head < this.items.length) {
      const item = this.items[this.head] as T
      this.items[this.head++] = undefined
      this.process(item)
    }
    this.items = []
    this.head = 0
    this.running = false
  }
}

/** A message of the floor: a command name and its input, plus a reply callback for asks. */
export interface BareMessage {
  readonly command: string
  readonly input: { readonly n: number }
  readonly resolve?: (reply: unknown) => void
}

/** An ask on the bare mailbox: enqueue with a resolver, the handler calls it. */
export function bareAsk(mailbox: BareMailbox<BareMessage>, command: string, n: number) {
  return new Promise<unknown>((resolve) => mailbox.enqueue({ command, input: { n }, resolve }))
}
