import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runNodeCommand, startNodeProcess } from '../support/node-process.js'
import { scratchModule } from '../support/scratch-module.js'

describe('anywhere-node CLI', function () {
  this.timeout(60_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-cli-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints its help', async () => {
    const { code, stdout } = await runNodeCommand(['--help'])
    assert.equal(code, 0)
    assert.match(stdout, /Usage: anywhere-node/)
    assert.match(stdout, /\bid\b/)
    assert.match(stdout, /\btap\b/)
    const help = await runNodeCommand(['help'])
    assert.equal(help.code, 0, 'the help command is not an error')
    assert.match(help.stdout, /Usage: anywhere-node/)
  })

  it('names the bad field of an invalid config file and exits 2', async () => {
    const config = join(dir, 'bad.json')
    await writeFile(config, JSON.stringify({ geo: 'Not A Geo', http: { port: 'eighty' } }))
    const { code, stderr } = await runNodeCommand(['--config', config])
    assert.equal(code, 2)
    assert.match(stderr, /geo: geo must be lower-case/)
    assert.match(stderr, /http\.port/)
  })

  it('refuses unknown config fields', async () => {
    const config = join(dir, 'typo.json')
    await writeFile(config, JSON.stringify({ gep: 'eu' }))
    const { code, stderr } = await runNodeCommand(['--config', config])
    assert.equal(code, 2)
    assert.match(stderr, /gep/)
  })

  it('serves with a config file whose values flags override, and stops cleanly on SIGTERM', async () => {
    const config = join(dir, 'node.json')
    await writeFile(
      config,
      JSON.stringify({
        geo: 'eu-west',
        http: { port: 1 },
        store: { kind: 'memory' },
        log: { level: 'warn' },
      }),
    )
    const node = await startNodeProcess({
      args: ['--config', config, '--port', '0', '--data-dir', dir, '--built-in-actors'],
    })
    assert.equal(node.ready.geo, 'eu-west')
    const reply = await fetch(`${node.url}/v1/actors/counter/a/increment`, {
      method: 'POST',
      body: '{"by":3}',
    })
    assert.equal(reply.status, 200)
    assert.deepEqual(await reply.json(), { value: 3 })
    assert.equal((await fetch(`${node.url}/healthz`)).headers.get('x-anywhere-geo'), 'eu-west')
    await node.stop()
    assert.equal(node.exitCode(), 0)
  })

  it('loads a TypeScript config module that adds its own actors', async () => {
    const core = new URL('../../core/index.ts', import.meta.url).href
    const { file: config, remove } = await scratchModule(
      'node.config.mts',
      `import { z } from 'zod'
import { defineActor } from '${core}'
const greeter = defineActor({
  type: 'greeter',
  initialState: { greeted: 0 },
  events: { greeted: z.object({ name: z.string() }) },
  apply: (state) => ({ greeted: state.greeted + 1 }),
  commands: (command) => ({
    greet: command(z.object({ name: z.string() }), (ctx, input) => {
      ctx.emit('greeted', input)
      return { message: 'hello ' + input.name, greeted: ctx.state.greeted }
    }),
  }),
})
export default { geo: 'lab', store: { kind: 'memory' }, actors: [greeter] }
`,
    )
    try {
      const node = await startNodeProcess({
        args: ['--config', config, '--port', '0', '--data-dir', dir, '--log-level', 'warn'],
      })
      const reply = await fetch(`${node.url}/v1/actors/greeter/g1/greet`, {
        method: 'POST',
        body: '{"name":"ada"}',
      })
      assert.deepEqual(await reply.json(), { message: 'hello ada', greeted: 1 })
      // A config file serves its own actors only: the built-in counter is a 404 naming the fix.
      const counter = await fetch(`${node.url}/v1/actors/counter/c1/increment`, { method: 'POST' })
      assert.equal(counter.status, 404)
      const body = (await counter.json()) as {
        error: string
        message: string
        servedTypes: string[]
      }
      assert.equal(body.error, 'UnknownActorTypeError')
      assert.deepEqual(body.servedTypes, ['greeter'])
      assert.match(body.message, /unknown actor type 'counter': this node serves 'greeter'/)
      assert.match(body.message, /builtInActors: true .*--built-in-actors/)
      const read = await fetch(`${node.url}/v1/actors/cart/alice`)
      assert.equal(read.status, 404)
      assert.match(((await read.json()) as { message: string }).message, /sampleActors: true/)
      const listed = (await (await fetch(`${node.url}/v1/actors`)).json()) as {
        actors: Array<{ type: string }>
      }
      assert.deepEqual(
        listed.actors.map((a) => a.type),
        ['greeter'],
      )
      await node.stop()
    } finally {
      await remove()
    }
  })

  it('a config file serves the built-in and sample actors when it asks for them', async () => {
    const config = join(dir, 'tour.json')
    await writeFile(
      config,
      JSON.stringify({ store: { kind: 'memory' }, log: { level: 'warn' }, sampleActors: true }),
    )
    const node = await startNodeProcess({ args: ['--config', config, '--port', '0'] })
    try {
      const cart = await fetch(`${node.url}/v1/actors/cart/alice/add`, {
        method: 'POST',
        body: '{"sku":"pear"}',
      })
      assert.equal(cart.status, 200)
      const counter = await fetch(`${node.url}/v1/actors/counter/c/increment`, { method: 'POST' })
      assert.equal(counter.status, 404)
      assert.deepEqual(((await counter.json()) as { servedTypes: string[] }).servedTypes, ['cart'])
    } finally {
      await node.stop()
    }
    const noActors = join(dir, 'empty.json')
    await writeFile(noActors, JSON.stringify({ store: { kind: 'memory' } }))
    const empty = await startNodeProcess({ args: ['--config', noActors, '--port', '0'] })
    try {
      const missing = await fetch(`${empty.url}/v1/actors/counter/c`)
      assert.equal(missing.status, 404)
      const body = (await missing.json()) as { message: string; servedTypes: string[] }
      assert.deepEqual(body.servedTypes, [])
      assert.match(body.message, /this node serves no actor type/)
    } finally {
      await empty.stop()
    }
    // Read once it exited: its log (stderr) and ready line (stdout) are separate pipes.
    assert.match(empty.output(), /this node serves no actor type: list yours in the config/)
  })

  it('on SIGTERM finishes in-flight requests, releases the data dir and exits 0', async () => {
    const core = new URL('../../core/index.ts', import.meta.url).href
    const { file: config, remove } = await scratchModule(
      'slow.config.mts',
      `import { z } from 'zod'
import { defineActor } from '${core}'
const slow = defineActor({
  type: 'slow',
  initialState: { done: 0 },
  events: { done: z.object({}) },
  apply: (state) => ({ done: state.done + 1 }),
  commands: (command) => ({
    work: command(z.object({ ms: z.number() }), async (ctx, input) => {
      await new Promise((resolve) => setTimeout(resolve, input.ms))
      ctx.emit('done', {})
      return ctx.state
    }),
  }),
})
export default { actors: [slow] }
`,
    )
    try {
      const args = ['--config', config, '--port', '0', '--data-dir', dir]
      const node = await startNodeProcess({ args })
      const inFlight = fetch(`${node.url}/v1/actors/slow/s1/work`, {
        method: 'POST',
        body: '{"ms":700}',
      })
      await new Promise((resolve) => setTimeout(resolve, 200))
      const stopped = node.stop()
      const reply = await inFlight
      assert.equal(reply.status, 200)
      assert.deepEqual(await reply.json(), { done: 1 })
      await stopped
      assert.equal(node.exitCode(), 0)
      assert.match(node.output(), /node stopped/)
      const again = await startNodeProcess({ args })
      assert.deepEqual(await (await fetch(`${again.url}/v1/actors/slow/s1`)).json(), { done: 1 })
      await again.stop()
      assert.doesNotMatch(
        again.output(),
        /taking over the data dir lock/,
        'the first node released its lock',
      )
    } finally {
      await remove()
    }
  })

  it('prints the same PeerId for a data dir every time', async () => {
    const first = await runNodeCommand(['id', '--data-dir', dir])
    const second = await runNodeCommand(['id', '--data-dir', dir])
    assert.equal(first.code, 0)
    assert.match(first.stdout.trim(), /^12D3Koo[A-Za-z0-9]+$/)
    assert.equal(first.stdout, second.stdout)
  })
})
