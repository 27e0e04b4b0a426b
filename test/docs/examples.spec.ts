// The examples in README.md and docs/ run as printed.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createNode } from '../../node/node.js'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { REPO_ROOT, scratchDir } from '../support/scratch-module.js'

const run = promisify(execFile)

/** The fenced code blocks of a markdown file, in order, with their language. */
async function codeBlocks(file: string): Promise<Array<{ lang: string; code: string }>> {
  const text = await readFile(join(REPO_ROOT, file), 'utf8')
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }))
}

describe('documentation examples', function () {
  this.timeout(90_000)
  const cleanups: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('the README tour runs as printed and prints what it says', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-tour-'))
    const node: NodeProcess = await startNodeProcess({
      args: ['--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    })
    cleanups.push(async () => {
      await node.stop()
      await rm(dataDir, { recursive: true, force: true })
    })
    const tour = (await codeBlocks('README.md')).find(
      (b) => b.lang === 'sh' && b.code.includes('curl'),
    )
    assert.ok(tour, 'the README has a tour')
    const host = new URL(node.url).host
    const lines = tour.code.split('\n')
    let checked = 0
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (!line.startsWith('curl ')) continue
      const { stdout } = await run('bash', ['-c', line.replaceAll('localhost:8080', host)], {
        timeout: 10_000,
      })
      const expected = lines[i + 1]?.trim()
      if (expected?.startsWith('# {') && !expected.includes('...')) {
        const text = expected.slice(2).replace(/ both times$/, '')
        assert.deepEqual(JSON.parse(stdout), JSON.parse(text), `${line} printed ${stdout}`)
        checked++
      } else if (expected?.startsWith('# {')) {
        const error = /"error":"(\w+)"/.exec(expected)?.[1]
        assert.equal(
          (JSON.parse(stdout) as { error?: string }).error,
          error,
          `${line} printed ${stdout}`,
        )
        checked++
      } else {
        assert.doesNotThrow(() => JSON.parse(stdout), `${line} printed ${stdout}`)
      }
    }
    assert.ok(checked >= 5, `checked ${checked} printed results`)
    // "Kill the node with kill -9 and start it again: every answered command is still there."
    await node.kill('SIGKILL')
    const again = await startNodeProcess({
      args: ['--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    })
    cleanups.push(() => again.stop())
    assert.deepEqual(await (await fetch(`${again.url}/v1/actors/counter/visits`)).json(), {
      value: 2,
    })
    assert.deepEqual(await (await fetch(`${again.url}/v1/actors/cart/alice`)).json(), {
      items: { pear: 1 },
      checkedOut: true,
      late: [],
    })
  })

  it('the README "three geos on one laptop" section runs as printed: a write crosses geos, a partition heals', async function () {
    this.timeout(120_000)
    const block = (await codeBlocks('README.md')).find(
      (b) => b.lang === 'sh' && b.code.includes('geo a 8081'),
    )
    assert.ok(block, 'the README has the three-geos section')
    const geos = join(REPO_ROOT, 'geos')
    await rm(geos, { recursive: true, force: true })
    cleanups.push(async () => {
      // Whatever the script left running if it failed halfway; then wait (bounded) until every
      // node has exited: a stopping node still writes its index checkpoint into geos/.
      const waitForExit =
        'pids=$(cat geos/*.pid 2>/dev/null); kill $pids 2>/dev/null; ' +
        'for i in $(seq 100); do alive=0; for p in $pids; do kill -0 $p 2>/dev/null && alive=1; done; ' +
        '[ $alive = 0 ] && break; sleep 0.1; done; true'
      await run('bash', ['-c', waitForExit], { cwd: REPO_ROOT })
      await rm(geos, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
    })
    const { stdout } = await run('bash', ['-c', block.code], { cwd: REPO_ROOT, timeout: 100_000 })
    const expected = [...block.code.matchAll(/# (\{"value":\d+\})/g)].map(
      (m) => JSON.parse(m[1]!) as unknown,
    )
    const printed = [...stdout.matchAll(/\{"value":\d+\}/g)].map((m) => JSON.parse(m[0]) as unknown)
    assert.deepEqual(printed, expected)
    assert.match(stdout, /"connected":true,"lagEvents":0/)
    // b may catch up through c first, so a's own counts of the heal vary.
    assert.match(stdout, /partition healed .*durationMs=\d+ eventsIn=\d+ eventsOut=\d+/)
  })

  it('the README config module serves its own actor', async () => {
    const block = (await codeBlocks('README.md')).find(
      (b) => b.lang === 'ts' && b.code.includes('my-actors.config.mts'),
    )
    assert.ok(block)
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const config = join(dir, 'my-actors.config.mts')
    await writeFile(config, block.code)
    const node = await startNodeProcess({
      args: [
        '--config',
        config,
        '--store',
        'memory',
        '--port',
        '0',
        '--data-dir',
        dir,
        '--log-level',
        'warn',
      ],
    })
    cleanups.push(() => node.stop())
    const reply = await fetch(`${node.url}/v1/actors/account/a1/deposit`, {
      method: 'POST',
      body: '{"amount":5}',
    })
    assert.deepEqual(await reply.json(), { balance: 5 })
  })

  it('docs/actors.md: the account actor and the code that uses it run', async () => {
    const blocks = (await codeBlocks('docs/actors.md')).filter((b) => b.lang === 'ts')
    assert.equal(blocks.length, 2)
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'example.mts')
    await writeFile(file, blocks.map((b) => b.code).join('\n'))
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      cwd: REPO_ROOT,
      timeout: 60_000,
    })
    assert.match(stdout, /balance: 7/)
  })

  it('docs/client.md: the client example compiles (strict, as the repository) and prints what it says', async () => {
    const blocks = (await codeBlocks('docs/client.md')).filter((b) => b.lang === 'ts')
    assert.equal(blocks.length, 1)
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'client-example.mts')
    await writeFile(file, blocks[0]!.code)
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../tsconfig.json', include: ['client-example.mts'] }),
    )
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      cwd: REPO_ROOT,
      timeout: 60_000,
    })
    const node = await createNode({
      store: { kind: 'memory' },
      dataDir: dir,
      http: { port: 0 },
      log: { level: 'silent' },
    })
    await node.start()
    cleanups.push(() => node.stop())
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      env: { ...process.env, ANYWHERE_URL: node.gateway.url },
    })
    assert.deepEqual(stdout.trim().split('\n'), [
      'value: 2',
      'elements: blue',
      'refused: 400 ValidationError at by',
    ])
  })
})
