// Who may call the gateway: each attack gets a typed 401 or 403, costs no parsing and writes nothing.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, streamLogger } from '../../../core/index.js'
import { createNode, type AnywhereNode } from '../../../node/node.js'
import type { NodeConfigInput } from '../../../node/config.js'
import {
  isLoopbackHost,
  isWellFormedToken,
  openGatewayWarning,
  tokenDigest,
  type Authorize,
} from '../../../transports/http/auth.js'

const READ = 'read-token-Aa1.~+/'
const WRITE = 'write-token-Bb2'
const ADMIN = 'admin-token-Cc3'

const tokens = [
  { name: 'dashboard', sha256: tokenDigest(READ), scopes: ['read' as const] },
  { name: 'app', sha256: tokenDigest(WRITE), scopes: ['write' as const] },
  { name: 'ops', sha256: tokenDigest(ADMIN), scopes: ['admin' as const] },
]

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** A node on 127.0.0.1 with a memory store; its error log lines are kept. */
async function startNode(
  http: NodeConfigInput['http'],
): Promise<{ node: AnywhereNode; errors: string[]; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'anywhere-auth-'))
  const errors: string[] = []
  const node = await createNode(
    { dataDir: dir, store: { kind: 'memory' }, http: { port: 0, ...http } },
    { logger: streamLogger({ level: 'error', write: (line) => errors.push(line) }) },
  )
  try {
    await node.start()
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    node,
    errors,
    stop: async () => {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function expectError(
  reply: Response,
  status: number,
  error: string,
): Promise<{ message: string }> {
  const text = await reply.text()
  assert.equal(reply.status, status, text)
  const body = JSON.parse(text) as { error: string; message: string }
  assert.equal(body.error, error, text)
  assert.equal(typeof body.message, 'string')
  return body
}

describe('HTTP gateway: auth with hashed tokens', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let stop: () => Promise<void>
  let base: string

  before(async () => {
    ;({ node, stop } = await startNode({ auth: { tokens } }))
    base = node.gateway!.url
  })

  after(async () => {
    await stop?.()
  })

  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', body: '{"by":1}', headers })
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${base}${path}`, { method, headers })
  /** The counter as an admin reads it: the attacks below must leave it alone. */
  const counter = async (id: string) =>
    ((await (await get(`/v1/actors/counter/${id}`, bearer(ADMIN))).json()) as { value: number })
      .value

  it('refuses a command without a token: 401, WWW-Authenticate: Bearer, nothing written', async () => {
    const reply = await post('/v1/actors/counter/a/increment')
    assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer /)
    await expectError(reply, 401, 'UnauthorizedError')
    assert.equal(await counter('a'), 0)
  })

  it('scopes idempotency keys to the principal: another caller reusing a key gets its own run, not the first reply', async () => {
    const key = { 'idempotency-key': 'shared-key-1' }
    const first = await post('/v1/actors/counter/idem-p/increment', { ...bearer(WRITE), ...key })
    assert.equal(first.status, 200)
    const retry = await post('/v1/actors/counter/idem-p/increment', { ...bearer(WRITE), ...key })
    assert.equal(retry.headers.get('idempotent-replayed'), 'true', 'the same caller replays')
    const other = await post('/v1/actors/counter/idem-p/increment', { ...bearer(ADMIN), ...key })
    assert.equal(other.status, 200)
    assert.equal(other.headers.get('idempotent-replayed'), null, 'another caller is not replayed')
    assert.equal(await counter('idem-p'), 2)
  })

  it('refuses malformed Authorization headers with 401 before hashing or parsing', async () => {
    const headers = [
      'Basic ' + Buffer.from('ops:' + ADMIN).toString('base64'),
      'Bearer',
      'Bearer ',
      `Bearer ${WRITE} extra`,
      `Token ${WRITE}`,
      'Bearer tok"en',
      'Bearer ' + 'x'.repeat(600),
      'Bearer ' + 'x'.repeat(10_000),
    ]
    for (const authorization of headers) {
      const reply = await post('/v1/actors/counter/b/increment', { authorization })
      const { message } = await expectError(reply, 401, 'UnauthorizedError')
      assert.match(message, /Bearer <token>/, authorization.slice(0, 40))
    }
    assert.equal(await counter('b'), 0)
  })

  it('refuses a wrong token, and a held token with a character changed', async () => {
    for (const token of ['not-a-token', WRITE.slice(0, -1) + 'X', WRITE + 'x']) {
      await expectError(
        await post('/v1/actors/counter/c/increment', bearer(token)),
        401,
        'UnauthorizedError',
      )
      await expectError(await get('/v1/actors/counter/c', bearer(token)), 401, 'UnauthorizedError')
    }
    assert.equal(await counter('c'), 0)
  })

  it('a read token reads but may not write: 403 ForbiddenError naming the scope, nothing written', async () => {
    assert.equal((await get('/v1/actors', bearer(READ))).status, 200)
    assert.equal((await get('/v1/actors/counter/d', bearer(READ))).status, 200)
    const { message } = await expectError(
      await post('/v1/actors/counter/d/increment', bearer(READ)),
      403,
      'ForbiddenError',
    )
    assert.match(message, /dashboard .*'write' scope/)
    assert.equal(await counter('d'), 0)
  })

  it('a write token writes and reads (write implies read); the scheme name is case-insensitive', async () => {
    const reply = await post('/v1/actors/counter/e/increment', { authorization: `bearer ${WRITE}` })
    assert.equal(reply.status, 200, await reply.clone().text())
    assert.deepEqual(await reply.json(), { value: 1 })
    assert.deepEqual(await (await get('/v1/actors/counter/e', bearer(WRITE))).json(), { value: 1 })
  })

  it('taps and fabric status are admin-only: none, read and write tokens are refused', async () => {
    for (const method of ['GET', 'HEAD']) {
      const none = await get('/v1/taps', {}, method)
      assert.equal(none.status, 401, method)
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /)
      for (const token of [READ, WRITE])
        assert.equal((await get('/v1/taps', bearer(token), method)).status, 403, method)
    }
    await expectError(await get('/v1/fabric', bearer(WRITE)), 403, 'ForbiddenError')
    await expectError(await get('/v1/fabric'), 401, 'UnauthorizedError')
    // The admin gets through to the route (this node runs no fabric: the route's own 404).
    assert.equal((await get('/v1/fabric', bearer(ADMIN))).status, 404)
  })

  it('an admin token streams the taps', async () => {
    const controller = new AbortController()
    const reply = await fetch(`${base}/v1/taps?kind=event.appended`, {
      headers: bearer(ADMIN),
      signal: controller.signal,
    })
    try {
      assert.equal(reply.status, 200)
      assert.equal(reply.headers.get('content-type'), 'text/event-stream')
      const reader = reply.body!.getReader()
      const first = new TextDecoder().decode((await reader.read()).value)
      assert.match(first, /anywhere taps/)
    } finally {
      controller.abort()
    }
  })

  it('health stays open; an unknown path needs admin (no route is revealed to strangers)', async () => {
    assert.equal((await get('/healthz')).status, 200)
    await expectError(await get('/v1/secret'), 401, 'UnauthorizedError')
    await expectError(await get('/v1/secret', bearer(WRITE)), 403, 'ForbiddenError')
    assert.equal((await get('/v1/secret', bearer(ADMIN))).status, 404)
  })

  it('compares digests with crypto.timingSafeEqual, against every held token', async () => {
    const original = crypto.timingSafeEqual
    let calls = 0
    crypto.timingSafeEqual = (a, b) => {
      calls++
      return original(a, b)
    }
    syncBuiltinESMExports()
    try {
      assert.equal((await get('/v1/actors', bearer(READ))).status, 200)
      assert.equal(calls, tokens.length, 'the first token matched, yet every one is compared')
      calls = 0
      assert.equal((await get('/v1/actors', bearer('wrong'))).status, 401)
      assert.equal(calls, tokens.length)
    } finally {
      crypto.timingSafeEqual = original
      syncBuiltinESMExports()
    }
  })
})

describe('HTTP gateway: auth with an authorize function', function () {
  this.timeout(20_000)
  const cleanups: Array<() => Promise<void>> = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  async function nodeWith(authorize: Authorize, authorizeTimeoutMs?: number) {
    const started = await startNode({
      auth: { authorize, tokens: [tokens[2]!], authorizeTimeoutMs },
    })
    cleanups.push(started.stop)
    const base = started.node.gateway!.url
    const write = (id: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/v1/actors/counter/${id}/increment`, { method: 'POST', body: '{}', headers })
    const value = async (id: string) =>
      (
        (await (
          await fetch(`${base}/v1/actors/counter/${id}`, { headers: bearer(ADMIN) })
        ).json()) as { value: number }
      ).value
    return { ...started, base, write, value }
  }

  it('grants what the function returns, sees method, url, headers and token, and checks the scope', async () => {
    const seen: Array<{ method: string; url: string; token?: string; agent?: unknown }> = []
    const { write, value } = await nodeWith(async (request) => {
      seen.push({
        method: request.method,
        url: request.url,
        token: request.token,
        agent: request.headers['x-agent'],
      })
      if (request.token === 'user-ada') return { principal: 'ada', scopes: ['write'] }
      if (request.token === 'user-bob') return { principal: 'bob', scopes: ['read'] }
      return undefined
    })
    assert.equal((await write('f', { ...bearer('user-ada'), 'x-agent': 'test' })).status, 200)
    assert.deepEqual(seen[0], {
      method: 'POST',
      url: '/v1/actors/counter/f/increment',
      token: 'user-ada',
      agent: 'test',
    })
    await expectError(await write('f', bearer('user-bob')), 403, 'ForbiddenError')
    await expectError(await write('f', bearer('user-eve')), 401, 'UnauthorizedError')
    await expectError(await write('f'), 401, 'UnauthorizedError')
    assert.equal(seen.at(-1)?.token, undefined, 'asked with no token')
    // A token the gateway holds is decided without the function.
    const asked = seen.length
    assert.equal((await write('f', bearer(ADMIN))).status, 200)
    assert.equal(seen.length, asked)
    assert.equal(await value('f'), 2)
  })

  it('fails closed when the function throws, rejects or returns a bad grant, and logs the error', async () => {
    const { write, value, errors } = await nodeWith((request) => {
      if (request.token === 'throws') throw new Error('the directory is down')
      if (request.token === 'rejects') return Promise.reject(new Error('the directory timed out'))
      if (request.token === 'bad-grant')
        return { principal: 'mallory', scopes: ['root'] } as unknown as ReturnType<Authorize>
      if (request.token === 'getter-throws')
        return {
          principal: 'mallory',
          get scopes(): never {
            throw new Error('the getter exploded')
          },
        }
      if (request.token === 'hangs') return new Promise<undefined>(() => {})
      return undefined
    }, 300)
    for (const token of ['throws', 'rejects', 'bad-grant', 'getter-throws', 'hangs'])
      await expectError(await write('g', bearer(token)), 401, 'UnauthorizedError')
    assert.equal(await value('g'), 0)
    const logged = errors.join('')
    assert.match(logged, /authorize function failed/)
    assert.match(logged, /the directory is down/)
    assert.match(logged, /the directory timed out/)
    assert.match(logged, /not \{ principal, scopes \}/)
    assert.match(logged, /the getter exploded/)
    assert.match(logged, /did not answer within 300 ms/)
  })
})

describe('HTTP gateway: auth config', function () {
  it('hashes only tokens a client could send as Bearer (RFC 6750 b64token, at most 512 characters)', () => {
    for (const token of [READ, WRITE, 'a', 'x'.repeat(512), 'YWJj==', 'a-b.c_d~e+f/g'])
      assert.ok(isWellFormedToken(token), token)
    for (const token of ['', 'x'.repeat(513), 'two words', 'tok"en', '=abc', 'caf\u00e9', 'a\nb'])
      assert.ok(!isWellFormedToken(token), JSON.stringify(token))
  })

  const refused = async (auth: unknown, pattern: RegExp) => {
    await assert.rejects(
      createNode({ store: { kind: 'memory' }, http: { auth } } as NodeConfigInput),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error))
        assert.match(error.message, pattern)
        return true
      },
    )
  }

  it('refuses a plaintext token, naming the field and the way to hash it', async () => {
    await refused(
      { tokens: [{ name: 'app', token: WRITE, sha256: tokenDigest(WRITE), scopes: ['write'] }] },
      /http\.auth\.tokens\.0\.token: a plaintext token is refused.*anywhere-node token hash/,
    )
    await refused(
      { tokens: [{ name: 'app', token: WRITE, scopes: ['write'] }] },
      /plaintext token is refused/,
    )
  })

  it('refuses a digest that is not 64 hex digits, an unknown scope, and auth with no way in', async () => {
    await refused({ tokens: [{ name: 'app', sha256: WRITE, scopes: ['write'] }] }, /sha256/)
    await refused(
      { tokens: [{ name: 'app', sha256: tokenDigest(WRITE), scopes: ['root'] }] },
      /scopes/,
    )
    await refused({ tokens: [{ name: 'app', sha256: tokenDigest(WRITE), scopes: [] }] }, /scopes/)
    await refused({}, /needs `tokens` or an `authorize` function/)
    await refused({ authorize: 'ada' }, /must be a function/)
  })
})

describe('HTTP gateway: the warning about an open gateway', function () {
  it('names the address and the fix when a gateway without auth listens beyond loopback', () => {
    assert.equal(
      openGatewayWarning({ host: '0.0.0.0' }, 'http://127.0.0.1:8080'),
      'the gateway at http://0.0.0.0:8080 accepts writes from anyone: configure http.auth',
    )
    assert.match(
      openGatewayWarning({ host: '::' }, 'http://[::1]:9000') ?? '',
      /http:\/\/\[::\]:9000 /,
    )
    assert.match(openGatewayWarning({ host: '10.1.2.3' }, 'http://10.1.2.3:80') ?? '', /anyone/)
    assert.equal(
      openGatewayWarning({ host: '0.0.0.0', auth: { tokens } }, 'http://0.0.0.0:1'),
      undefined,
    )
    for (const host of ['127.0.0.1', '127.3.0.9', 'localhost', '::1']) {
      assert.ok(isLoopbackHost(host), host)
      assert.equal(openGatewayWarning({ host }, 'http://127.0.0.1:8080'), undefined, host)
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.4', '127.0.0.1.example.com', 'localhost.evil'])
      assert.ok(!isLoopbackHost(host), host)
  })

  it('a zero-config node listens on 127.0.0.1 and logs no warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-auth-'))
    const lines: string[] = []
    const node = await createNode(
      { dataDir: dir, store: { kind: 'memory' }, http: { port: 0 } },
      { logger: streamLogger({ level: 'warn', write: (line) => lines.push(line) }) },
    )
    try {
      await node.start()
      assert.equal(node.config.http.host, '127.0.0.1')
      assert.match(node.gateway!.url, /^http:\/\/127\.0\.0\.1:/)
      assert.doesNotMatch(lines.join(''), /accepts writes from anyone/)
    } finally {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
