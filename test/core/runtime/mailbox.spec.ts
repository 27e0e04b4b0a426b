import assert from 'node:assert/strict'
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { MAILBOX_SLICE, Mailbox, MailboxScheduler } from '../../../core/runtime/mailbox.js'

/** A promise with its settle functions outside, to hold an item's processing open. */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('Mailbox', () => {
  it('processes items in the order they were queued, never in the caller`s stack', async () => {
    const seen: number[] = []
    const mailbox = new Mailbox<number>((n) => void seen.push(n), 100)
    for (let n = 1; n <= 5; n++) assert.equal(mailbox.enqueue(n), true)
    assert.deepEqual(seen, [], 'nothing runs before the caller returns')
    assert.equal(mailbox.idle, false)
    assert.equal(mailbox.size, 5)
    await mailbox.whenIdle()
    assert.deepEqual(seen, [1, 2, 3, 4, 5])
    assert.equal(mailbox.idle, true)
    assert.equal(mailbox.size, 0)
  })

  it('processes one item at a time: an item that returns a promise holds the next until it settles', async () => {
    const log: string[] = []
    const gates = [deferred(), deferred()]
    const mailbox = new Mailbox<number>((n) => {
      log.push(`start ${n}`)
      const gate = gates[n]
      if (!gate) return
      return gate.promise.then(() => void log.push(`end ${n}`))
    }, 100)
    mailbox.enqueue(0)
    mailbox.enqueue(1)
    mailbox.enqueue(2)
    await nextMacrotask()
    assert.deepEqual(log, ['start 0'], 'the second item waits for the first')
    assert.equal(mailbox.size, 2)
    gates[0]!.resolve()
    await nextMacrotask()
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1'])
    gates[1]!.resolve()
    await mailbox.whenIdle()
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2'])
  })

  it('hands each item its own argument, in order, across slices and asynchronous items', async () => {
    const seen: string[] = []
    const gate = deferred()
    const mailbox = new Mailbox<string, number | undefined>((item, arg) => {
      seen.push(`${item}:${String(arg)}`)
      if (item === 'hold') return gate.promise
    }, 10_000)
    const count = 3 * MAILBOX_SLICE + 5
    mailbox.enqueue('hold', -1)
    for (let i = 0; i < count; i++) mailbox.enqueue(i % 2 === 0 ? 'even' : 'odd', i)
    mailbox.enqueue('none')
    assert.equal(mailbox.size, count + 2, 'size counts items, not slots')
    await nextMacrotask()
    assert.deepEqual(seen, ['hold:-1'])
    gate.resolve()
    await mailbox.whenIdle()
    assert.deepEqual(seen, [
      'hold:-1',
      ...Array.from({ length: count }, (_, i) => `${i % 2 === 0 ? 'even' : 'odd'}:${i}`),
      'none:undefined',
    ])
  })

  it('refuses an item past its capacity of waiting items, and takes items again once they drain', async () => {
    const gate = deferred()
    const seen: string[] = []
    const mailbox = new Mailbox<string>((item) => {
      seen.push(item)
      if (item === 'a') return gate.promise
    }, 2)
    assert.equal(mailbox.enqueue('a'), true)
    assert.equal(mailbox.enqueue('b'), true)
    assert.equal(mailbox.enqueue('c'), false, 'two waiting: full')
    assert.equal(mailbox.size, 2)
    await nextMacrotask()
    // 'a' is being processed: it no longer counts, so one more fits.
    assert.deepEqual(seen, ['a'])
    assert.equal(mailbox.size, 1)
    assert.equal(mailbox.enqueue('d'), true)
    assert.equal(mailbox.enqueue('e'), false)
    gate.resolve()
    await mailbox.whenIdle()
    assert.deepEqual(seen, ['a', 'b', 'd'], 'refused items are dropped, not queued')
    assert.equal(mailbox.enqueue('f'), true)
    await mailbox.whenIdle()
    assert.deepEqual(seen, ['a', 'b', 'd', 'f'])
  })

  it('reports an item whose processing throws or rejects, and goes on with the next', async () => {
    const errors: unknown[] = []
    const seen: number[] = []
    const mailbox = new Mailbox<number>(
      (n) => {
        seen.push(n)
        if (n === 1) throw new Error('thrown')
        if (n === 2) return Promise.reject(new Error('rejected'))
      },
      100,
      (error) => errors.push(error),
    )
    for (const n of [1, 2, 3]) mailbox.enqueue(n)
    await mailbox.whenIdle()
    assert.deepEqual(seen, [1, 2, 3])
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['thrown', 'rejected'],
    )
    assert.equal(mailbox.idle, true)
  })

  it('whenIdle resolves at once when idle, and every waiter when the queue drains', async () => {
    const mailbox = new Mailbox<number>(() => {}, 10)
    let resolved = false
    await mailbox.whenIdle().then(() => (resolved = true))
    assert.equal(resolved, true)
    mailbox.enqueue(1)
    const waits = [mailbox.whenIdle(), mailbox.whenIdle()]
    assert.equal(mailbox.idle, false)
    await Promise.all(waits)
    assert.equal(mailbox.idle, true)
  })

  it('lets other mailboxes take a turn after a slice of items', async () => {
    const order: string[] = []
    const scheduler = new MailboxScheduler()
    const busy = new Mailbox<number>(
      (n) => void order.push(`busy ${n}`),
      1_000,
      undefined,
      scheduler,
    )
    const other = new Mailbox<number>(
      (n) => void order.push(`other ${n}`),
      1_000,
      undefined,
      scheduler,
    )
    for (let n = 0; n < MAILBOX_SLICE + 10; n++) busy.enqueue(n)
    other.enqueue(0)
    await Promise.all([busy.whenIdle(), other.whenIdle()])
    assert.equal(order.length, MAILBOX_SLICE + 11)
    assert.equal(order.indexOf('other 0'), MAILBOX_SLICE, 'after one slice of the busy mailbox')
    assert.equal(order.at(-1), `busy ${MAILBOX_SLICE + 9}`)
  })

  it('yields to the event loop after its turn budget, so a flood cannot starve timers and sockets', async () => {
    const scheduler = new MailboxScheduler(MAILBOX_SLICE)
    let processed = 0
    const mailbox = new Mailbox<number>(() => void processed++, 1_000, undefined, scheduler)
    for (let n = 0; n < 3 * MAILBOX_SLICE; n++) mailbox.enqueue(n)
    const seenByMacrotask = await nextMacrotask().then(() => processed)
    assert.equal(seenByMacrotask, MAILBOX_SLICE, 'one budget, then the event loop got a turn')
    await mailbox.whenIdle()
    assert.equal(processed, 3 * MAILBOX_SLICE)
  })
})
