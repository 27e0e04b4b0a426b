// A real node on the file store, killed with SIGKILL in the middle of a stream of
// increments: after a restart on the same data dir every acknowledged increment is there,
// and no counter holds more than its acknowledged plus its unanswered increments (each
// request is distinct, so nothing unacknowledged was applied twice).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeProcess, type NodeProcess } from '../../support/node-process.js'

/** Concurrent clients, each incrementing its own counter, one request at a time. */
const CLIENTS = 6
/** Acknowledged increments (all clients together) before the kill, in each round. */
const ACKS_BEFORE_KILL = 150
/** Kill, restart and check this many times on the same data dir. */
const ROUNDS = 2
const REQUEST_TIMEOUT_MS = 10_000
const WAIT_FOR_ACKS_MS = 30_000

interface Tally {
  /** Increments answered 200. */
  acked: number
  /** Increments sent but not answered 200 (cut off by the kill, or refused): maybe applied. */
  uncertain: number
}

describe('file store: a node killed with SIGKILL mid-stream', function () {
  this.timeout(120_000)
  let dir: string
  let node: NodeProcess | undefined

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-file-crash-'))
  })

  after(async () => {
    await node?.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  const start = () =>
    startNodeProcess({
      args: [
        'start',
        '--store',
        'file',
        '--data-dir',
        dir,
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--log-level',
        'warn',
      ],
      timeoutMs: 30_000,
    })

  for (const [what, clientIds] of [
    ['each client its own counter', Array.from({ length: CLIENTS }, (_, i) => `crash-${i}`)],
    // A hot actor: its commands pipeline (each runs against the events of the previous
    // ones while they are made durable), and still no reply reports what is not stored.
    ['every client on one hot counter', Array.from({ length: 2 * CLIENTS }, () => 'hot')],
  ] as const)
    it(`keeps every acknowledged increment and applies none twice (${what})`, async () => {
      const ids = [...new Set(clientIds)]
      const tallies = new Map<string, Tally>(ids.map((id) => [id, { acked: 0, uncertain: 0 }]))
      node = await start()
      for (let round = 1; round <= ROUNDS; round++) {
        const url = node.url
        let killing = false
        let ackedThisRound = 0
        const client = async (id: string) => {
          const tally = tallies.get(id)!
          while (!killing) {
            let ok = false
            try {
              const response = await fetch(`${url}/v1/actors/counter/${id}/increment`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ by: 1 }),
                signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
              })
              await response.arrayBuffer()
              ok = response.status === 200
            } catch {
              // no answer: the kill cut it off
            }
            if (ok) {
              tally.acked++
              ackedThisRound++
            } else {
              tally.uncertain++
            }
          }
        }
        const clients = clientIds.map(client)
        const deadline = Date.now() + WAIT_FOR_ACKS_MS
        while (ackedThisRound < ACKS_BEFORE_KILL && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 10))
        assert.ok(
          ackedThisRound >= ACKS_BEFORE_KILL,
          `only ${ackedThisRound} increments acknowledged before the deadline`,
        )

        // Kill while requests are in flight; clients stop sending new ones.
        const killed = node.kill('SIGKILL')
        killing = true
        await killed
        await Promise.all(clients)

        node = await start()
        // The killed node's lock was left behind; the new node took it over and said so.
        assert.match(
          node.output(),
          /taking over the data dir lock of a process that no longer runs/,
        )
        for (const id of ids) {
          const { acked, uncertain } = tallies.get(id)!
          const response = await fetch(`${node.url}/v1/actors/counter/${id}`, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          })
          const text = await response.text()
          assert.equal(response.status, 200, text)
          const { value } = JSON.parse(text) as { value: number }
          assert.ok(
            value >= acked,
            `round ${round}, ${id}: ${value} < ${acked} acknowledged: an acknowledged increment was lost`,
          )
          assert.ok(
            value <= acked + uncertain,
            `round ${round}, ${id}: ${value} > ${acked} acknowledged + ${uncertain} unanswered: an increment was applied twice`,
          )
          // From here on the counter's true value is known again.
          tallies.set(id, { acked: value, uncertain: 0 })
        }
      }
      await node.stop()
      node = undefined
    })

  it('refuses a second node on the same data dir, naming the process that holds it', async () => {
    node = await start()
    const error = await start().then(
      (second) => second.kill().then(() => new Error('the second node started')),
      (e: unknown) => e as Error,
    )
    assert.match(
      error.message,
      new RegExp(`StoreLockedError: data dir .* is locked by process ${node.pid}`),
    )
    assert.match(error.message, /Stop that node, or give this one its own data dir/)
    await node.stop()
    node = undefined
  })
})
