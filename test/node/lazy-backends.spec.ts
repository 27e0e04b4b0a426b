// Optional parts load only when configured: a node on the file store never loads ioredis or
// libp2p (each costs start time and memory).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const BACKENDS = /node_modules\/(ioredis|libp2p|@libp2p|@chainsafe)\//

async function modulesLoadedBy(config: object): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-lazy-'))
  const record = join(dir, 'loaded.txt')
  try {
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        join(FIXTURES, 'load-recorder.mjs'),
        join(FIXTURES, 'start-node.ts'),
        JSON.stringify({
          dataDir: join(dir, 'data'),
          http: { port: 0 },
          log: { level: 'silent' },
          ...config,
        }),
      ],
      { env: { ...process.env, LOAD_RECORD: record }, timeout: 60_000 },
    )
    return (await readFile(record, 'utf8')).split('\n').filter(Boolean)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('node: optional backends load only when configured', function () {
  this.timeout(120_000)

  it('a file-store node without a fabric loads neither ioredis nor libp2p', async () => {
    const loaded = await modulesLoadedBy({ store: { kind: 'file' } })
    assert.ok(
      loaded.some((url) => url.includes('/stores/file/')),
      'the recorder saw the file store',
    )
    assert.deepEqual(
      loaded.filter((url) => BACKENDS.test(url)),
      [],
    )
  })

  it('a node with a fabric does load libp2p (the recorder sees backends when they load)', async () => {
    const loaded = await modulesLoadedBy({
      store: { kind: 'memory' },
      fabric: { listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] },
    })
    assert.ok(
      loaded.some((url) => /node_modules\/libp2p\//.test(url)),
      'libp2p loaded',
    )
    assert.ok(!loaded.some((url) => /node_modules\/ioredis\//.test(url)), 'ioredis not loaded')
  })
})
