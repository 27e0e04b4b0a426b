// `anywhere-node` started on hostile or damaged files (a real process each time): it refuses
// to start with one line that names the file and the fix, the error's type, and the exit
// code of its kind (2: the user's input; 1: damaged data), never a hang, a stack trace or a
// node that serves on what it could not read.
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { segmentName } from '../../stores/file/index.js'
import { assertOneLine, runNodeCommand } from '../support/node-process.js'

/** A start that would hang or serve is killed after this; a refusal comes well before. */
const REFUSAL_TIMEOUT_MS = 30_000

describe('anywhere-node: started on hostile files', function () {
  this.timeout(90_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-hostile-files-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const start = (...args: string[]) =>
    runNodeCommand(
      ['--data-dir', join(dir, 'data'), '--port', '0', '--log-level', 'error', ...args],
      REFUSAL_TIMEOUT_MS,
    )

  it('an event log whose newest segment is a named pipe: StoreCorruptError naming it, exit 1', async () => {
    const events = join(dir, 'data', 'events')
    await mkdir(events, { recursive: true })
    await writeFile(join(events, segmentName(1)), '')
    await promisify(execFile)('mkfifo', [join(events, segmentName(2))])
    const { code, stderr } = await start()
    assert.equal(code, 1, stderr)
    assert.match(
      stderr,
      /^anywhere-node: StoreCorruptError: store file .*segment-000000000002\.log/,
    )
    assert.match(stderr, /not a regular file/)
    assertOneLine(stderr)
  })

  it('a node-id file that holds no node id: StoreCorruptError naming it, exit 1', async () => {
    const events = join(dir, 'data', 'events')
    await mkdir(events, { recursive: true })
    await writeFile(join(events, 'node-id'), 'x'.repeat(300))
    const { code, stderr } = await start()
    assert.equal(code, 1, stderr)
    assert.match(stderr, /^anywhere-node: StoreCorruptError: the node-id file .*node-id does not/)
    assertOneLine(stderr)
  })

  it('a JSON config with a __proto__ key: refused naming it, exit 2', async () => {
    const config = join(dir, 'node.json')
    await writeFile(config, '{"__proto__": {"geo": "evil"}, "store": {"kind": "memory"}}')
    const { code, stderr } = await start('--config', config)
    assert.equal(code, 2, stderr)
    assert.match(stderr, /\(root\): Unrecognized key: "__proto__"/)
  })

  it('a config path that is a named pipe: refused at once, exit 2', async () => {
    const config = join(dir, 'node.json')
    await promisify(execFile)('mkfifo', [config])
    const { code, stderr } = await start('--config', config)
    assert.equal(code, 2, stderr)
    assert.match(stderr, /config file .*node\.json cannot be a JSON config: not a regular file/)
    assertOneLine(stderr)
  })

  it('a fabric key that is not Ed25519: refused naming its type, exit 2', async () => {
    await mkdir(join(dir, 'data'), { recursive: true })
    const key = await generateKeyPair('secp256k1')
    await writeFile(join(dir, 'data', 'peer-key'), privateKeyToProtobuf(key))
    const { code, stderr } = await start('--fabric-listen', '/ip4/127.0.0.1/tcp/0')
    assert.equal(code, 2, stderr)
    assert.match(stderr, /peer-key is a secp256k1 key, not Ed25519/)
    assertOneLine(stderr)
  })
})
