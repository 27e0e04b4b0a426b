import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode } from '../../node/node.js'

describe('node identity (origin)', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-origin-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const start = async () => {
    const node = await createNode({ dataDir: dir, http: { port: 0 }, log: { level: 'silent' } })
    await node.start()
    return node
  }

  it('keeps its origin across restarts and continues its seqs', async () => {
    const first = await start()
    await first.runtime.ask('counter', 'c', 'increment', {})
    await first.stop()
    const second = await start()
    assert.equal(second.nodeId, first.nodeId)
    await second.runtime.ask('counter', 'c', 'increment', {})
    assert.deepEqual(await second.store.versionVector(), { [first.nodeId]: 2 })
    await second.stop()
  })

  it('writes under a fresh origin when its event log was emptied, so no seq is ever reused', async () => {
    const first = await start()
    await first.runtime.ask('counter', 'c', 'increment', {})
    await first.stop()
    await rm(join(dir, 'events'), { recursive: true })
    const second = await start()
    assert.notEqual(second.nodeId, first.nodeId)
    await second.stop()
  })

  it('replaces an empty node-id file left by a crash on first start', async () => {
    await mkdir(join(dir, 'events'), { recursive: true })
    await writeFile(join(dir, 'events', 'node-id'), '')
    const node = await start()
    assert.match(node.nodeId, /^local-[0-9a-f]{8}$/)
    assert.equal((await readFile(join(dir, 'events', 'node-id'), 'utf8')).trim(), node.nodeId)
    await node.stop()
  })
})
