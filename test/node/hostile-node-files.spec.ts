// Hostile or damaged files a node reads besides its event log: its config file, its node-id
// file, its fabric identity key and its kept retirement notices. Each gets a typed error that
// names the file and the fix (or, for a kept notice, derived data, a warning), never a hang,
// an unbounded read, or a value that slips past the schema.
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ConfigError, StoreCorruptError } from '../../core/errors.js'
import { streamLogger } from '../../core/logger.js'
import { loadConfigFile, MAX_LISTED_ISSUES, parseNodeConfig } from '../../node/config.js'
import { persistentNodeId } from '../../node/node-id.js'
import { readPsk } from '../../transports/libp2p/fabric-init.js'
import { loadOrCreateIdentity } from '../../transports/libp2p/identity.js'
import { fileNoticeKeeper } from '../../transports/libp2p/retired-origins.js'

describe('node: hostile files beside the event log', function () {
  this.timeout(20_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-node-files-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** The config a JSON file gives, parsed as a start does; or the error. */
  async function configOf(text: string): Promise<unknown> {
    const file = join(dir, 'node.json')
    await writeFile(file, text)
    try {
      return parseNodeConfig((await loadConfigFile(file)).config)
    } catch (error) {
      return error
    }
  }

  describe('a JSON config file', () => {
    it('a top-level __proto__ key is refused as an unknown key, not taken as the config prototype', async () => {
      const error = await configOf('{"__proto__": {"geo": "evil", "builtInActors": true}}')
      assert.ok(error instanceof ConfigError, `accepted: ${JSON.stringify(error)}`)
      assert.match(error.message, /\(root\): Unrecognized key: "__proto__"/)
      const nested = await configOf('{"store": {"kind": "file", "__proto__": {"dir": "/"}}}')
      assert.ok(nested instanceof ConfigError, `accepted: ${JSON.stringify(nested)}`)
      assert.match(nested.message, /__proto__/)
    })

    it('huge numbers, deep nesting and wrong types are refused naming the field', async () => {
      for (const [text, field] of [
        ['{"http": {"port": 1e400}}', /http\.port/],
        ['{"store": {"kind": "file", "segmentBytes": 1e300}}', /store\.segmentBytes/],
        [`{"geo": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`, /geo: .*expected string/],
        [`{"http": ${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`, /http: Unrecognized key/],
        ['{"members": {"enabled": "yes"}}', /members\.enabled/],
        ['[]', /\(root\)/],
      ] as const) {
        const error = await configOf(text)
        assert.ok(error instanceof ConfigError, `${text.slice(0, 40)}: ${String(error)}`)
        assert.match(error.message, field)
      }
    })

    it(`lists at most ${MAX_LISTED_ISSUES} problems, then how many more`, async () => {
      const listen = Array.from({ length: 100_000 }, () => 1)
      const error = await configOf(JSON.stringify({ fabric: { listen } }))
      assert.ok(error instanceof ConfigError, String(error))
      const lines = error.message.split('\n')
      assert.equal(lines.length, 1 + MAX_LISTED_ISSUES + 1, error.message.slice(0, 400))
      assert.equal(lines.at(-1), `  ... and ${100_000 - MAX_LISTED_ISSUES} more`)
    })

    it('a byte order mark in front (as some editors save) is read past', async () => {
      const config = await configOf('\ufeff{"geo": "eu"}')
      assert.equal((config as { geo: string }).geo, 'eu')
    })

    it('a path that is missing, a directory, a named pipe, a link to /dev/zero or too large: ConfigError, at once', async () => {
      await mkdir(join(dir, 'dir.json'))
      await mkfifo(join(dir, 'pipe.json'))
      await symlink('/dev/zero', join(dir, 'zero.json'))
      await writeFile(join(dir, 'big.json'), '')
      await truncate(join(dir, 'big.json'), 64 * 1024 * 1024) // sparse: no disk used
      for (const [name, why] of [
        ['missing.json', /cannot read config file .*ENOENT/],
        ['dir.json', /not a regular file/],
        ['pipe.json', /not a regular file/],
        ['zero.json', /not a regular file/],
        ['big.json', /cannot be a JSON config: 67108864 bytes, over 4194304/],
      ] as const) {
        const error = await loadConfigFile(join(dir, name)).catch((e: unknown) => e)
        assert.ok(error instanceof ConfigError, `${name}: ${String(error)}`)
        assert.match(error.message, why, name)
      }
    })
  })

  describe('the node-id file', () => {
    const file = () => join(dir, 'node-id')

    it('keeps a plain id (whitespace around it trimmed) and replaces an empty file', async () => {
      await writeFile(file(), '  eu-0a1b2c3d \n')
      assert.equal(await persistentNodeId(file(), 'eu'), 'eu-0a1b2c3d')
      await writeFile(file(), '')
      assert.match(await persistentNodeId(file(), 'eu'), /^eu-[0-9a-f]{8}$/)
    })

    for (const [what, content] of [
      ['an id past the origin length peers take', 'x'.repeat(300)],
      ['a dot (which would set apart a PeerId)', 'eu.12D3KooWLast'],
      ['a line break', 'eu-1\neu-2'],
      ['binary bytes', '\u0000\u00ff\u0001'],
      ['a megabyte', 'a'.repeat(1024 * 1024)],
    ] as const) {
      it(`refuses one holding ${what}: StoreCorruptError naming it and the fix`, async () => {
        await writeFile(file(), content)
        const error = await persistentNodeId(file(), 'eu').catch((e: unknown) => e)
        assert.ok(error instanceof StoreCorruptError, `accepted: ${JSON.stringify(error)}`)
        assert.equal(error.file, file())
        assert.match(error.message, /does not hold a node id/)
        assert.match(error.message, /remove it/)
      })
    }

    it('refuses a directory or a named pipe in its place, without waiting on the pipe', async () => {
      await mkdir(file())
      const error = await persistentNodeId(file(), 'eu').catch((e: unknown) => e)
      assert.ok(error instanceof StoreCorruptError, String(error))
      assert.match(error.message, /not a regular file/)
      await rm(file(), { recursive: true })
      await mkfifo(file())
      // O_RDONLY on a pipe waits for a writer: the open must not be what decides.
      const piped = await persistentNodeId(file(), 'eu').catch((e: unknown) => e)
      assert.ok(piped instanceof StoreCorruptError, String(piped))
    })
  })

  describe('the fabric identity key', () => {
    for (const type of ['RSA', 'secp256k1'] as const) {
      it(`refuses a ${type} key (events are signed and checked with Ed25519): ConfigError naming it`, async () => {
        const key = join(dir, 'peer-key')
        const privateKey =
          type === 'RSA' ? await generateKeyPair('RSA', 1024) : await generateKeyPair('secp256k1')
        await writeFile(key, privateKeyToProtobuf(privateKey))
        const error = await loadOrCreateIdentity(key).catch((e: unknown) => e)
        assert.ok(error instanceof ConfigError, `accepted: ${JSON.stringify(error)}`)
        assert.match(error.message, new RegExp(`${type} key, not Ed25519`))
      })
    }

    it('a directory, a named pipe or a huge file in its place: ConfigError saying why, at once', async () => {
      await assertEachRefused(join(dir, 'peer-key'), loadOrCreateIdentity, {
        huge: /not a key \(1073741824 bytes, over 65536\)/,
      })
    })
  })

  describe('the fabric pre-shared key', () => {
    it('a named pipe, a directory or a huge file in its place: ConfigError saying why, at once', async () => {
      await assertEachRefused(join(dir, 'swarm.key'), readPsk, { huge: /1073741824 bytes, over/ })
    })
  })

  describe('kept retirement notices', () => {
    it('a directory, a named pipe or an oversized file named *.notice is left aside with a warning, never read', async () => {
      const notices = join(dir, 'retired-origins')
      await mkdir(join(notices, 'a.notice'), { recursive: true })
      await mkfifo(join(notices, 'b.notice'))
      await writeFile(join(notices, 'c.notice'), '')
      await truncate(join(notices, 'c.notice'), 1024 * 1024 * 1024) // sparse
      await writeFile(join(notices, 'd.notice'), 'kept as it is')
      const logs: string[] = []
      const logger = streamLogger({ level: 'warn', write: (line) => logs.push(line) })
      const kept = await fileNoticeKeeper(notices, logger).load()
      assert.deepEqual(
        kept.map((k) => [k.key, Buffer.from(k.bytes).toString()]),
        [['d', 'kept as it is']],
      )
      for (const [name, why] of [
        ['a.notice', 'not a regular file'],
        ['b.notice', 'not a regular file'],
        ['c.notice', 'bytes, over'],
      ] as const)
        assert.ok(
          logs.some((l) => l.includes(name) && l.includes(why)),
          `${name}: ${logs.join('\n')}`,
        )
    })
  })
})

/**
 * Puts a directory, a named pipe, then a 1 GiB sparse file at `path`, and checks that `load`
 * refuses each at once with a ConfigError: `not a regular file`, or `huge` for the big one.
 */
async function assertEachRefused(
  path: string,
  load: (path: string) => Promise<unknown>,
  { huge }: { huge: RegExp },
): Promise<void> {
  for (const [make, why] of [
    [() => mkdir(path), /not a regular file/],
    [() => mkfifo(path), /not a regular file/],
    [() => writeFile(path, '').then(() => truncate(path, 1 << 30)), huge],
  ] as const) {
    await rm(path, { recursive: true, force: true })
    await make()
    const error = await load(path).catch((e: unknown) => e)
    assert.ok(error instanceof ConfigError, String(error))
    assert.match(error.message, why)
  }
}

async function mkfifo(path: string): Promise<void> {
  await promisify(execFile)('mkfifo', [path])
}
