import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../../core/index.js'
import { loadOrCreateIdentity } from '../../../transports/libp2p/index.js'

describe('fabric: node identity', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-identity-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('creates an Ed25519 key with mode 0600 and keeps the same PeerId afterwards', async () => {
    const file = join(dir, 'nested', 'peer-key')
    const first = await loadOrCreateIdentity(file)
    assert.match(first.peerId, /^12D3KooW/)
    assert.equal(first.privateKey.type, 'Ed25519')
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const again = await loadOrCreateIdentity(file)
    assert.equal(again.peerId, first.peerId)
  })

  it('settles on one key when two starts race to create it', async () => {
    const file = join(dir, 'peer-key')
    const ids = await Promise.all([1, 2, 3].map(() => loadOrCreateIdentity(file)))
    assert.equal(new Set(ids.map((i) => i.peerId)).size, 1)
    assert.equal((await loadOrCreateIdentity(file)).peerId, ids[0]!.peerId)
  })

  it('refuses a key file that is not a marshalled private key, with what to do', async () => {
    const file = join(dir, 'peer-key')
    await writeFile(file, 'not a key')
    await assert.rejects(loadOrCreateIdentity(file), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, /restore it, or delete it/)
      return true
    })
  })
})
