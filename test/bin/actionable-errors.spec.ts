// Bad input to the CLI gets one line naming the cause and the fix, exit code 2, and no stack
// trace (unless --debug or DEBUG asks for one).
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { assertOneLine, runNodeCommand, startNodeProcess } from '../support/node-process.js'
import { scratchModule } from '../support/scratch-module.js'

/** Holds a port on 127.0.0.1 until closed. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no TCP address')
  return { port: address.port, server }
}

describe('anywhere-node: errors a person can act on', function () {
  this.timeout(60_000)
  let dir: string
  const cleanups: Array<() => Promise<void> | void> = []

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-errors-'))
  })

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('a gateway port in use: names the port and --port, exit 2', async () => {
    const { port, server } = await holdPort()
    cleanups.push(() => void server.close())
    const { code, stderr } = await runNodeCommand([
      '--port',
      String(port),
      '--store',
      'memory',
      '--data-dir',
      dir,
      '--log-level',
      'silent',
    ])
    assert.equal(code, 2, stderr)
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`))
    assert.match(stderr, /--port/)
    assertOneLine(stderr)
  })

  it('a fabric port in use: names the address and --fabric-listen, exit 2', async () => {
    const { port, server } = await holdPort()
    cleanups.push(() => void server.close())
    const { code, stderr } = await runNodeCommand([
      '--port',
      '0',
      '--store',
      'memory',
      '--data-dir',
      dir,
      '--fabric-listen',
      `/ip4/127.0.0.1/tcp/${port}`,
      '--log-level',
      'silent',
    ])
    assert.equal(code, 2, stderr)
    assert.match(stderr, new RegExp(`/ip4/127\\.0\\.0\\.1/tcp/${port}.*in use`))
    assert.match(stderr, /--fabric-listen/)
    assertOneLine(stderr)
  })

  it('--debug shows the stack of the same failure', async () => {
    const { port, server } = await holdPort()
    cleanups.push(() => void server.close())
    const { code, stderr } = await runNodeCommand([
      '--port',
      String(port),
      '--store',
      'memory',
      '--data-dir',
      dir,
      '--log-level',
      'silent',
      '--debug',
    ])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /already in use/)
    assert.match(stderr, /^\s+at /m)
  })

  it('a data dir that cannot be created (under a file: ENOTDIR, which stops root too): names it and --data-dir, exit 2', async () => {
    // chmod does not stop root (CI runs as root): a path under a regular file fails for everyone.
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a directory')
    const dataDir = join(file, 'data')
    const { code, stderr } = await runNodeCommand(['--data-dir', dataDir, '--port', '0'])
    assert.equal(code, 2, stderr)
    assert.match(stderr, new RegExp(`data dir ${dataDir.replaceAll('/', '\\/')} is not writable`))
    assert.match(stderr, /ENOTDIR/)
    assert.doesNotMatch(stderr, /ENOTDIR: ENOTDIR/)
    assert.match(stderr, /--data-dir/)
    assertOneLine(stderr)
  })

  it('a data dir where mkdir answers ENOENT though its parent exists (under /proc): names it, exit 2, no hang', async function () {
    // Node's own recursive mkdir never returns there, spinning at 100% CPU.
    const dataDir = `/proc/anywhere-test-${process.pid}`
    const { code, stderr } = await runNodeCommand(['--data-dir', dataDir, '--port', '0'])
    assert.equal(code, 2, stderr)
    assert.match(stderr, new RegExp(`data dir ${dataDir.replaceAll('/', '\\/')} is not writable`))
    assert.match(stderr, /ENOENT/)
    assert.doesNotMatch(stderr, /ENOENT: ENOENT/)
    assertOneLine(stderr)
  })

  it('a config module that registers the built-in counter again: names it and the fix, exit 2', async () => {
    const core = new URL('../../core/index.ts', import.meta.url).href
    const { file, remove } = await scratchModule(
      'dup.config.mts',
      `import { z } from 'zod'
import { defineActor } from '${core}'
const counter = defineActor({
  type: 'counter',
  initialState: { n: 0 },
  events: { added: z.object({}) },
  apply: (state) => ({ n: state.n + 1 }),
  commands: (command) => ({ add: command(z.object({}), (ctx) => { ctx.emit('added', {}); return ctx.state }) }),
})
export default { store: { kind: 'memory' }, builtInActors: true, actors: [counter] }
`,
    )
    cleanups.push(remove)
    const { code, stderr } = await runNodeCommand(['--config', file, '--port', '0'])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /actor type 'counter' is registered twice/)
    assert.match(stderr, /built-in/)
    assert.match(stderr, /builtInActors: false/)
    assertOneLine(stderr)
  })

  it('a syntax error in a .mts config module: names the .mts file, line and column, exit 2', async () => {
    const { file, remove } = await scratchModule(
      'syntax.config.mts',
      `export default {\n  geo: 'lab',,\n}\n`,
    )
    cleanups.push(remove)
    const { code, stderr } = await runNodeCommand(['--config', file, '--port', '0'])
    assert.equal(code, 2, stderr)
    assert.ok(stderr.includes(`${file}:2:13`), stderr)
    assert.ok(!stderr.includes(`${file.slice(0, -'.mts'.length)}.ts`), stderr)
  })

  it('--peer without --fabric-listen: says to add --fabric-listen, exit 2', async () => {
    const { code, stderr } = await runNodeCommand([
      '--peer',
      '/ip4/127.0.0.1/tcp/7402/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '--store',
      'memory',
      '--data-dir',
      dir,
    ])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /--peer needs --fabric-listen/)
    assert.doesNotMatch(stderr, /expected array/)
    assertOneLine(stderr)
  })

  it('a misspelt command suggests the right one, exit 2', async () => {
    const { code, stderr } = await runNodeCommand(['strat'])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /unknown command 'strat'.*did you mean 'start'\?/i)
    assertOneLine(stderr)
  })

  it('tap --kind with a misspelt kind suggests the nearest one, exit 2, without connecting', async () => {
    const { code, stderr } = await runNodeCommand([
      'tap',
      '--url',
      'http://127.0.0.1:9',
      '--kind',
      'event.appended,peer.lsot',
    ])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /unknown tap kind 'peer\.lsot'.*did you mean 'peer\.lost'\?/)
    assert.doesNotMatch(stderr, /cannot reach/)
    assertOneLine(stderr)
  })

  it('a dial to a wrong PeerId is logged as a warning and shown as lastError on /v1/fabric', async () => {
    const b = await startNodeProcess({
      args: [
        '--geo',
        'b',
        '--store',
        'memory',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'b'),
        '--fabric-listen',
        '/ip4/127.0.0.1/tcp/0',
        '--log-level',
        'warn',
      ],
    })
    cleanups.push(() => b.stop())
    const wrong = (await runNodeCommand(['id', '--data-dir', join(dir, 'other')])).stdout.trim()
    const bAddr = b.ready.fabric![0]!.replace(/\/p2p\/.*$/, '')
    const a = await startNodeProcess({
      args: [
        '--geo',
        'a',
        '--store',
        'memory',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'a'),
        '--fabric-listen',
        '/ip4/127.0.0.1/tcp/0',
        '--peer',
        `${bAddr}/p2p/${wrong}`,
        '--log-level',
        'warn',
      ],
    })
    cleanups.push(() => a.stop())
    const deadline = Date.now() + 20_000
    let seen: unknown
    for (;;) {
      const status = (await (await fetch(`${a.url}/v1/fabric`)).json()) as {
        peers: Array<{ peerId: string; connected: boolean; lastError?: string }>
      }
      seen = status
      const peer = status.peers.find((p) => p.peerId === wrong)
      if (peer?.lastError && /fabric dial failed/.test(a.output())) {
        assert.equal(peer.connected, false)
        break
      }
      if (Date.now() > deadline)
        assert.fail(`no lastError within 20 s; saw ${JSON.stringify(seen)}\n${a.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const warning = a
      .output()
      .split('\n')
      .find((line) => line.includes('fabric dial failed'))
    assert.ok(warning)
    assert.match(warning, /WARN|warn/)
    assert.ok(warning.includes(wrong), `the warning names the peer: ${warning}`)
  })
})
