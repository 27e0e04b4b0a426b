// docs/security.md runs as printed: making a token, the config, the curl session, the authorize module.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openGatewayWarning } from '../../transports/http/index.js'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { REPO_ROOT, scratchDir } from '../support/scratch-module.js'

const run = promisify(execFile)
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The fenced code blocks of a markdown file, in order, with their language. */
async function codeBlocks(file: string): Promise<Array<{ lang: string; code: string }>> {
  const text = await readFile(join(REPO_ROOT, file), 'utf8')
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }))
}

describe('docs/security.md examples', function () {
  this.timeout(60_000)
  const cleanups: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function startNode(args: readonly string[]): Promise<NodeProcess> {
    const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-security-doc-'))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const node = await startNodeProcess({
      args: [...args, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir],
    })
    cleanups.push(() => node.stop())
    return node
  }

  it('the warning it quotes is the one a node logs', async () => {
    const block = (await codeBlocks('docs/security.md')).find((b) =>
      b.code.includes('accepts writes'),
    )
    assert.equal(block?.code.trim(), openGatewayWarning({ host: '0.0.0.0' }, 'http://0.0.0.0:8080'))
  })

  it('making a token, the config and the curl session run as printed', async () => {
    const blocks = await codeBlocks('docs/security.md')
    const make = blocks.find((b) => b.lang === 'sh' && b.code.includes('token hash'))
    const json = blocks.find((b) => b.lang === 'json' && b.code.includes('"auth"'))
    const session = blocks.find((b) => b.lang === 'sh' && b.code.includes('curl'))
    assert.ok(make && json && session, 'the token, config and curl blocks are there')

    // 1. Make a token and its entry (the block as printed, then the token it made).
    const made = await run('bash', ['-c', `${make.code}\necho "$TOKEN"`], {
      cwd: REPO_ROOT,
      timeout: 30_000,
    })
    const [entryLine, token] = made.stdout.trim().split('\n') as [string, string]
    const entry = JSON.parse(entryLine) as { name: string; sha256: string; scopes: string[] }
    const printed = /^# (\{.*\})$/m.exec(make.code)![1]!
    assert.deepEqual({ ...entry, sha256: '<64 hex digits>' }, JSON.parse(printed))
    assert.equal(entry.sha256, sha256(token))

    // 2. The config as printed, with the printed entry (and on 127.0.0.1: tests stay on loopback).
    const config = JSON.parse(json.code) as { http: { auth: { tokens: unknown[] } } }
    assert.deepEqual(config.http.auth.tokens, [{ ...entry, sha256: '<64 hex digits>' }])
    config.http.auth.tokens = [entry]
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'node.json'), JSON.stringify(config))
    const node = await startNode([
      '--config',
      join(dir, 'node.json'),
      '--store',
      'memory',
      '--log-level',
      'warn',
    ])

    // 3. Each curl line prints what the line after it says.
    const host = new URL(node.url).host
    const lines = session.code.split('\n')
    let checked = 0
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (!line.startsWith('curl ')) continue
      const { stdout } = await run('bash', ['-c', line.replaceAll('localhost:8080', host)], {
        env: { ...process.env, TOKEN: token },
        timeout: 10_000,
      })
      const expected = /^# (\{.*\})$/.exec(lines[i + 1]?.trim() ?? '')?.[1]
      assert.ok(expected, `${line} is followed by what it prints`)
      assert.deepEqual(JSON.parse(stdout), JSON.parse(expected), `${line} printed ${stdout}`)
      checked++
    }
    assert.equal(checked, 3)
  })

  it('the authorize config module decides per actor', async () => {
    const block = (await codeBlocks('docs/security.md')).find(
      (b) => b.lang === 'ts' && b.code.includes('auth.config.mts'),
    )
    assert.ok(block)
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'auth.config.mts'), block.code)
    const node = await startNode(['--config', join(dir, 'auth.config.mts'), '--log-level', 'warn'])
    const alice = { authorization: 'Bearer token-of-alice' }
    const add = (cart: string, headers: Record<string, string>) =>
      fetch(`${node.url}/v1/actors/cart/${cart}/add`, {
        method: 'POST',
        body: '{"sku":"pear"}',
        headers,
      })
    assert.equal((await add('alice', alice)).status, 200)
    assert.equal((await add('bob', alice)).status, 403)
    assert.equal((await add('alice', { authorization: 'Bearer token-of-bob' })).status, 401)
    assert.equal((await add('alice', {})).status, 401)
    const read = await fetch(`${node.url}/v1/actors/cart/bob`, { headers: alice })
    assert.equal(read.status, 200)
  })
})
