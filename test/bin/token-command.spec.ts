// `anywhere-node token hash`, and a real node process behind http.auth (taps through `anywhere-node tap`).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { streamTaps } from '../../bin/tap-client.js'
import { runNodeCommand, startNodeProcess, type NodeProcess } from '../support/node-process.js'

const BIN = fileURLToPath(new URL('../../bin/anywhere-node.mjs', import.meta.url))
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** Runs `anywhere-node <args>` with `input` on its stdin. */
function withStdin(
  args: readonly string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  child.stdin.end(input)
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

describe('anywhere-node token hash, and a node process behind http.auth', function () {
  this.timeout(60_000)
  const cleanups: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-token-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    return dir
  }

  async function startNode(args: readonly string[]): Promise<NodeProcess> {
    const dataDir = await tempDir()
    const node = await startNodeProcess({
      args: [...args, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
    })
    cleanups.push(() => node.stop())
    return node
  }

  it('prints the sha256 of a token given on stdin (line end dropped) or with --token', async () => {
    const fromStdin = await withStdin(['token', 'hash'], 's3cret-Token_1\n')
    assert.equal(fromStdin.code, 0, fromStdin.stderr)
    assert.equal(fromStdin.stdout, sha256('s3cret-Token_1') + '\n')
    const entry = await runNodeCommand([
      'token',
      'hash',
      '--token',
      's3cret-Token_1',
      '--name',
      'ops',
      '--scope',
      'admin',
    ])
    assert.deepEqual(JSON.parse(entry.stdout), {
      name: 'ops',
      sha256: sha256('s3cret-Token_1'),
      scopes: ['admin'],
    })
  })

  it('refuses a token no client could send as Bearer, and an empty one, with exit code 2', async () => {
    // The rule itself is unit-tested with isWellFormedToken; here, that the command applies it.
    for (const run of [
      () => withStdin(['token', 'hash'], '\n'),
      () => runNodeCommand(['token', 'hash', '--token', 'two words']),
    ]) {
      const { code, stdout, stderr } = await run()
      assert.equal(code, 2, stderr)
      assert.equal(stdout, '')
      assert.match(stderr, /the token must be 1 to 512 characters/)
    }
  })

  it('refuses a JSON config holding a plaintext token, naming the field (exit 2)', async () => {
    const dir = await tempDir()
    const config = join(dir, 'plain.json')
    await writeFile(
      config,
      JSON.stringify({
        http: { auth: { tokens: [{ name: 'app', token: 'hunter2', scopes: ['write'] }] } },
      }),
    )
    const { code, stderr } = await runNodeCommand(['--config', config, '--data-dir', dir])
    assert.equal(code, 2)
    assert.match(stderr, /http\.auth\.tokens\.0\.token: a plaintext token is refused/)
  })

  it('a node process with hashed tokens in its JSON config: 401, 403, 200, and taps for admin only', async () => {
    const dir = await tempDir()
    const config = join(dir, 'node.json')
    const tokens = [
      { name: 'app', sha256: sha256('app-token'), scopes: ['write'] },
      { name: 'ops', sha256: sha256('ops-token'), scopes: ['admin'] },
    ]
    await writeFile(
      config,
      JSON.stringify({
        store: { kind: 'memory' },
        http: { auth: { tokens } },
        builtInActors: true,
      }),
    )
    const node = await startNode(['--config', config, '--log-level', 'warn'])
    const increment = (headers: Record<string, string>) =>
      fetch(`${node.url}/v1/actors/counter/n/increment`, {
        method: 'POST',
        body: '{"by":2}',
        headers,
      })
    assert.equal((await increment({})).status, 401)
    assert.equal((await increment({ authorization: 'Bearer ops-token-' })).status, 401)
    assert.deepEqual(await (await increment({ authorization: 'Bearer app-token' })).json(), {
      value: 2,
    })
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200)
    assert.doesNotMatch(node.output(), /accepts writes from anyone/)

    // `anywhere-node tap` with an admin token streams; with a write token it is refused.
    const refused: string[] = []
    assert.equal(await streamTaps({ url: node.url, token: 'app-token' }, (l) => refused.push(l)), 1)
    assert.match(refused.join(''), /answered 403/)
    const lines: string[] = []
    const controller = new AbortController()
    const tapping = streamTaps(
      { url: node.url, kind: 'event.appended', token: 'ops-token' },
      (line) => {
        lines.push(line)
        controller.abort()
      },
      controller.signal,
    )
    const deadline = Date.now() + 20_000
    while (lines.length === 0 && Date.now() < deadline) {
      await increment({ authorization: 'Bearer ops-token' })
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(await tapping, 0)
    assert.match(lines[0] ?? '', /"kind":"event.appended"/, `tap printed ${lines.join('\n')}`)
  })
})
