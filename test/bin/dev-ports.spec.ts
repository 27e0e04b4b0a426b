// `anywhere-node dev` names its own option (--http-port) when a gateway port is taken, never
// the --port of `start` that its geos run with.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { relayedLine } from '../../bin/dev/geo-process.js'
import { runNodeCommand } from '../support/node-process.js'

/** Holds a free port of 127.0.0.1 until closed. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return { port: (server.address() as { port: number }).port, server }
}

describe('anywhere-node dev: gateway ports', function () {
  this.timeout(60_000)
  let dir: string
  let held: Server | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-dev-ports-'))
  })

  afterEach(async () => {
    if (held) await new Promise((resolve) => held!.close(resolve))
    held = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('a taken --http-port: one line naming the port, its geo and --http-port, exit 2, no geo started', async () => {
    const { port, server } = await holdPort()
    held = server
    const { code, stdout, stderr } = await runNodeCommand([
      'dev',
      '--geos',
      '2',
      '--http-port',
      String(port),
      '--control-port',
      '0',
      '--data-dir',
      dir,
    ])
    assert.equal(code, 2, stderr)
    const lines = stderr.trim().split('\n')
    assert.equal(lines.length, 1, `one line on stderr, saw:\n${stderr}`)
    assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${port} \\(geo a\\) is already in use`))
    assert.match(lines[0]!, /pick other ports with --http-port \(0 picks free ports\)/)
    assert.doesNotMatch(stderr, /--port\b/)
    assert.doesNotMatch(stdout, /^\[a\]/m, 'no geo was started')
  })

  it("a geo's own port-in-use line is relayed naming dev's --http-port, not start's --port", async () => {
    const { port, server } = await holdPort()
    held = server
    // The real line a geo prints (dev checked the port, then something else took it).
    const { code, stderr } = await runNodeCommand([
      '--store',
      'memory',
      '--port',
      String(port),
      '--log-level',
      'error',
    ])
    assert.equal(code, 2, stderr)
    const line = stderr.split('\n').find((l) => l.includes('the gateway cannot listen'))
    assert.ok(line, `the node said why it stopped:\n${stderr}`)
    assert.match(line, /--port/)
    const relayed = relayedLine(line)
    assert.match(
      relayed,
      /pick other ports with anywhere-node dev --http-port \(0 picks free ports\)/,
    )
    assert.doesNotMatch(relayed, /--port\b/)
    assert.equal(relayedLine('[a] some other line with --port'), '[a] some other line with --port')
  })
})
