import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode } from '../../node/index.js'

describe('node: a memory-store node', () => {
  it('writes nothing to disk: no data dir, no node id, no store files', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'anywhere-memory-node-'))
    const dataDir = join(parent, 'never-created')
    const node = await createNode({
      dataDir,
      store: { kind: 'memory' },
      http: { port: 0 },
      log: { level: 'silent' },
    })
    try {
      await node.start()
      const reply = await fetch(`${node.gateway!.url}/v1/actors/counter/c/increment`, {
        method: 'POST',
      })
      assert.equal(reply.status, 200)
    } finally {
      await node.stop()
    }
    assert.equal(existsSync(dataDir), false, `${dataDir} was created`)
    await rm(parent, { recursive: true, force: true })
  })
})
