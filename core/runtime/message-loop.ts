import type { Clock } from '../clock.js'
import type { ActorPlacement } from '../placement/placement.js'
import { failMessage, type ActorCell, type MailboxItem } from './actor-cell.js'
import type { CommandProcessor } from './command-processor.js'
import type { ReplicaEngine } from './replica.js'

/**
 * What an actor's mailbox runs for each message: loads the actor on its first message (a geo
 * of several nodes claims it first), re-folds it when late events arrived, waits for appends
 * under way where a read or a re-fold must see only what is durable, then hands the message
 * to the command processor or the replica.
 */
export class MessageLoop {
  constructor(
    private readonly commands: CommandProcessor,
    private readonly replica: ReplicaEngine,
    private readonly clock: Clock,
    private readonly placement: ActorPlacement | undefined,
  ) {}

  process(cell: ActorCell, message: MailboxItem, input: unknown): void | Promise<void> {
    if (cell.ready) return this.processLoaded(cell, message, input)
    // The first message waits for the rehydration; after it the path stays synchronous where it can.
    // A reload after a failed append waits for the appends still under way: the store must hold them.
    cell.loading ??= cell.inFlight > 0 ? cell.settled.then(() => this.load(cell)) : this.load(cell)
    const generation = cell.generation
    return cell.loading.then(
      () => {
        // Marked stale while loading (a replicated event it may not have read): load again.
        if (cell.generation !== generation) return this.process(cell, message, input)
        cell.ready = true
        return this.processLoaded(cell, message, input)
      },
      (error: unknown) => {
        cell.loading = undefined
        failMessage(message, error)
      },
    )
  }

  /** Rehydrates the actor; in a geo of several nodes, claims it first (its appends carry the epoch). */
  private async load(cell: ActorCell): Promise<void> {
    const { placement } = this
    if (placement) {
      cell.appendOptions = undefined
      cell.appendOptions = { fence: await placement.claim(cell.definition.type, cell.id) }
    }
    return this.replica.rehydrate(cell)
  }

  private processLoaded(
    cell: ActorCell,
    message: MailboxItem,
    input: unknown,
  ): void | Promise<void> {
    // Only the last queued message reads the clock: once the mailbox is idle, lastUsed is still
    // the start of the last message handled, and a burst of messages costs one clock read.
    if (cell.mailbox.size === 0) cell.lastUsed = this.clock.now()
    // A tell: its command name, its input the mailbox item's argument.
    const tell = typeof message === 'string'
    const kind = tell ? 'command' : message.kind
    // A read, or a re-fold from the store, sees only what is durable: it waits for the
    // appends under way (and reloads if one of them failed).
    if (cell.inFlight > 0 && (kind === 'read' || (cell.lateFrom && kind !== 'ingest')))
      return cell.settled.then(() => this.process(cell, message, input))
    if (cell.lateFrom && kind !== 'ingest')
      return this.replica.refold(cell, cell.lateFrom).then(
        () => this.processLoaded(cell, message, input),
        (error: unknown) => failMessage(message, error),
      )
    if (tell) return this.commands.handle(cell, message, input, undefined, undefined)
    switch (message.kind) {
      case 'read':
        message.resolve({ state: cell.state, eventCount: cell.count, last: cell.last })
        return
      case 'ingest':
        return this.replica.foldIngested(cell, message.events)
      case 'command':
        return this.commands.handle(
          cell,
          message.command,
          message.input,
          message.chain,
          message.reply,
          message.keyed,
        )
    }
  }
}
