// A handler that emits an invalid event payload: the caller gets a 500 whose body says which
// field of the payload is wrong (the ValidationError's issues, carried by the HandlerError).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { defineActor, streamLogger } from '../../core/index.js'
import { createNode, type AnywhereNode } from '../../node/index.js'

const sloppy = defineActor({
  type: 'sloppy',
  initialState: { total: 0 },
  events: { added: z.object({ amount: z.number().positive() }) },
  apply: (state, event) => ({ total: state.total + event.payload.amount }),
  commands: (command) => ({
    add: command(z.object({ amount: z.number() }), (ctx, input) => {
      ctx.emit('added', { amount: input.amount })
      return ctx.state
    }),
  }),
})

describe('a handler emitting an invalid event payload', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let dir: string
  const lines: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-issues-'))
    node = await createNode(
      { dataDir: dir, store: { kind: 'memory' }, http: { port: 0 }, log: { level: 'silent' } },
      {
        actors: [sloppy],
        logger: streamLogger({ level: 'warn', json: true, write: (line) => lines.push(line) }),
      },
    )
    await node.start()
  })

  after(async () => {
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers 500 HandlerError with the payload issues, and changes nothing', async () => {
    const reply = await fetch(`${node.gateway!.url}/v1/actors/sloppy/s1/add`, {
      method: 'POST',
      body: '{"amount":-3}',
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(reply.status, 500)
    const body = (await reply.json()) as {
      error: string
      message: string
      issues?: Array<{ path: string[]; message: string; code: string }>
    }
    assert.equal(body.error, 'HandlerError')
    assert.match(body.message, /invalid payload for event 'added' of sloppy: amount: /)
    assert.doesNotMatch(body.message, /\n|\[/, 'one line, the issues written out, not zod JSON')
    assert.ok(body.issues, `issues expected in ${JSON.stringify(body)}`)
    assert.deepEqual(
      body.issues.map((i) => i.path),
      [['amount']],
    )
    assert.equal(body.issues[0]!.code, 'too_small')
    const state = await fetch(`${node.gateway!.url}/v1/actors/sloppy/s1`)
    assert.deepEqual(await state.json(), { total: 0 })
  })

  it('logs a failing handler once, not once per request', async () => {
    for (let i = 0; i < 5; i++) {
      const reply = await fetch(`${node.gateway!.url}/v1/actors/sloppy/s2/add`, {
        method: 'POST',
        body: '{"amount":-1}',
        headers: { 'content-type': 'application/json' },
      })
      assert.equal(reply.status, 500)
    }
    const logged = lines
      .map((line) => JSON.parse(line) as { level: string; message: string; url?: string })
      .filter((entry) => entry.message.startsWith('a command handler failed'))
    // The first test's failure was written; these five fall in the same 10 s.
    assert.equal(logged.length, 1, lines.join(''))
    assert.equal(logged[0]!.level, 'warn')
    assert.equal(logged[0]!.url, '/v1/actors/sloppy/s1/add')
  })
})
