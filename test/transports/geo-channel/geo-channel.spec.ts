// The channel between the nodes of a geo, one client and one server in this process (the
// specs in test/geo run it between real node processes): answers and errors by class, what a
// broken or silent connection means for a call, the secret, and frames split anywhere.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect, createServer, type Server, type Socket } from 'node:net'
import {
  AskTimeoutError,
  ConfigError,
  IdempotencyKeyReusedError,
  MemberUnreachableError,
  NotOwnerError,
  OutcomeUnknownError,
  PayloadTooLargeError,
  ValidationError,
  silentLogger,
  type ActorRuntime,
  type ActorView,
} from '../../../core/index.js'
import { poll } from '../../support/multi-geo.js'
import { GeoChannelClient, MAX_UNSENT_BYTES } from '../../../transports/geo-channel/client.js'
import { GeoChannelServer } from '../../../transports/geo-channel/server.js'
import {
  FrameKind,
  FrameReader,
  encodeFrame,
  type Frame,
} from '../../../transports/geo-channel/frames.js'

const SECRET = 'the-geo-secret'

/** What the fake owner does with a forwarded call: by command name. */
type Behaviour = (input: unknown) => Promise<unknown>

describe('geo channel (client and server)', () => {
  let server: GeoChannelServer | undefined
  let client: GeoChannelClient | undefined
  const raw: Server[] = []
  const behaviours = new Map<string, Behaviour>()
  let served = 0

  const start = async (secret = SECRET) => {
    const forwarded = {
      askForwarded: async (_type: string, _id: string, command: string, input: unknown) => {
        served++
        const behaviour = behaviours.get(command)
        return { value: behaviour ? await behaviour(input) : input, replayed: false }
      },
      readForwarded: (): Promise<ActorView> =>
        Promise.resolve({ state: { value: 3 }, eventCount: 3 }),
      tellForwarded: () => {
        served++
      },
    }
    server = new GeoChannelServer(
      { host: '127.0.0.1', port: 0 },
      {
        runtime: { forwarded } as unknown as ActorRuntime,
        logger: silentLogger(),
        secret: () => SECRET,
      },
    )
    await server.start()
    client = channelClient(server.url, secret)
  }

  afterEach(async () => {
    await client?.stop()
    await server?.stop()
    for (const s of raw.splice(0)) await new Promise((resolve) => s.close(resolve))
    client = server = undefined
    behaviours.clear()
    served = 0
  })

  it('carries asks, tells and reads, many at once on one connection', async () => {
    await start()
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        client!.ask('b', { type: 'counter', id: `x${i}`, command: 'echo', input: { i } }),
      ),
    )
    assert.deepEqual(
      replies.map((r) => (r.value as { i: number }).i),
      Array.from({ length: 500 }, (_, i) => i),
    )
    await client!.tell('b', { type: 'counter', id: 'x', command: 'echo', input: {} })
    assert.deepEqual((await client!.read('b', 'counter', 'x')).state, { value: 3 })
    assert.equal(served, 501)
  })

  it('errors keep their class across the hop (and a ValidationError its issues)', async () => {
    await start()
    behaviours.set('moved', () => Promise.reject(new NotOwnerError('node c owns it')))
    behaviours.set('reused', () => Promise.reject(new IdempotencyKeyReusedError('another input')))
    behaviours.set('invalid', () =>
      Promise.reject(
        new ValidationError('bad input', { issues: [{ path: ['by'], message: 'too big' }] }),
      ),
    )
    behaviours.set('bug', () => Promise.reject(new TypeError('a bug in the handler')))
    const ask = (command: string) => client!.ask('b', { type: 't', id: 'i', command, input: {} })
    await assert.rejects(ask('moved'), NotOwnerError)
    await assert.rejects(ask('reused'), IdempotencyKeyReusedError)
    await assert.rejects(ask('invalid'), (error: unknown) => {
      assert.ok(error instanceof ValidationError)
      assert.deepEqual(error.issues, [{ path: ['by'], message: 'too big' }])
      return true
    })
    // An error of no known class: the caller cannot tell what ran.
    await assert.rejects(ask('bug'), OutcomeUnknownError)
  })

  it('a node that cannot be reached: the call surely did not run (MemberUnreachableError)', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as { port: number }
    await new Promise((resolve) => closed.close(resolve))
    client = channelClient(`tcp://127.0.0.1:${port}`, SECRET)
    await assert.rejects(
      client.ask('b', { type: 't', id: 'i', command: 'c', input: {} }),
      MemberUnreachableError,
    )
  })

  it('a connection lost with an ask under way: its outcome is unknown; a read is safe to retry', async () => {
    // A node that reads calls and never answers, then drops the connection.
    const { url, dropAll } = await silentNode(raw)
    client = channelClient(url, SECRET)
    const ask = client.ask('b', { type: 't', id: 'i', command: 'c', input: {} })
    const read = client.read('b', 't', 'i')
    await dropAll(2)
    await assert.rejects(ask, OutcomeUnknownError)
    await assert.rejects(read, MemberUnreachableError)
  })

  it('no answer before the deadline: AskTimeoutError (it may or may not have run)', async () => {
    const { url } = await silentNode(raw)
    client = channelClient(url, SECRET)
    const started = Date.now()
    await assert.rejects(
      client.ask('b', { type: 't', id: 'i', command: 'c', input: {} }, { timeoutMs: 100 }),
      AskTimeoutError,
    )
    assert.ok(Date.now() - started >= 1_000, 'the caller waits past the receiver’s own timeout')
  })

  it('a node whose connection never opens (its accept queue full, or gone from the network): MemberUnreachableError once the call is due', async () => {
    // A real listener that accepts nothing: a child process, stopped once it listens, whose
    // accept queue is then filled, so that the kernel drops the next connection's SYNs.
    const child = spawn(
      process.execPath,
      [
        '-e',
        // Once resumed, it accepts, and prints the bytes any connection sends it.
        `require('node:net').createServer((s) => s.on('data', (d) => console.log('got ' + d.length))).listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const fillers: Socket[] = []
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.once('error', reject)
        child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())))
      })
      child.kill('SIGSTOP')
      for (let i = 0; i < 8; i++) {
        const filler = connect(port, '127.0.0.1')
        filler.on('error', () => {})
        fillers.push(filler)
      }
      client = channelClient(`tcp://127.0.0.1:${port}`, SECRET)
      await assert.rejects(
        client.ask('b', { type: 't', id: 'i', command: 'c', input: {} }, { timeoutMs: 100 }),
        (error: Error) => {
          assert.ok(error instanceof MemberUnreachableError, `${error.name}: ${error.message}`)
          return true
        },
      )
      // Said not to have run, it must never run: once the node accepts again (its next
      // SYN retry comes within 3 s), the call it was never sent stays unsent. A negative
      // check, so a bounded wait.
      let printed = ''
      child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()))
      child.kill('SIGCONT')
      await new Promise((resolve) => setTimeout(resolve, 4_000))
      assert.doesNotMatch(printed, /got/, `the node received: ${printed}`)
    } finally {
      for (const filler of fillers) filler.destroy()
      child.kill('SIGKILL')
    }
  })

  it('a node that refuses the secret: ConfigError, and nothing ran', async () => {
    await start('not-the-secret')
    await assert.rejects(
      client!.ask('b', { type: 't', id: 'i', command: 'c', input: {} }),
      ConfigError,
    )
    assert.equal(served, 0)
  })

  it('a connection refused for its secret is closed, even when its peer keeps its side open', async () => {
    await start()
    const { hostname, port } = new URL(server!.url)
    // A peer that never closes its side on its own (a hostile one, or a stuck one).
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true })
    try {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      socket.on('error', () => {})
      const refused = new Promise<Frame>((resolve) => {
        const reader = new FrameReader(1024)
        socket.on('data', (chunk: Buffer) => reader.push(chunk, resolve))
      })
      socket.write(encodeFrame(0, FrameKind.HELLO, { secret: 'not-the-secret' }))
      assert.equal((await refused).kind, FrameKind.ERROR)
      // It goes on sending: the server must not read (and hold) it for ever.
      const sending = setInterval(() => {
        if (!socket.destroyed) socket.write(encodeFrame(1, FrameKind.ASK, {}))
      }, 50)
      try {
        const outcome = await Promise.race([
          closed.then(() => 'closed'),
          new Promise((resolve) => setTimeout(resolve, 15_000, 'still open after 15 s')),
        ])
        assert.equal(outcome, 'closed')
      } finally {
        clearInterval(sending)
      }
    } finally {
      socket.destroy()
    }
  })

  it('a call nesting deeper than a request may, or naming __proto__, is refused unparsed: nothing runs', async () => {
    await start()
    const deep = `{"type":"t","id":"i","command":"c","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
    const poisoned = '{"type":"t","id":"i","command":"c","input":{"__proto__":{"admin":true}}}'
    const answers = await rawCalls(server!.url, [deep, poisoned])
    assert.deepEqual(
      answers.map((a) => [a.kind, a.error]),
      [
        [FrameKind.ERROR, 'ValidationError'],
        [FrameKind.ERROR, 'ValidationError'],
      ],
      JSON.stringify(answers),
    )
    assert.match(answers[0]!.message, /deeper than/)
    assert.equal(served, 0)
    // The connection and the node still serve honest calls.
    assert.deepEqual(
      await client!.ask('b', { type: 't', id: 'i', command: 'c', input: { n: 1 } }),
      {
        value: { n: 1 },
      },
    )
  })

  it('an answer too large or that cannot be encoded fails its call alone, as an unknown outcome', async () => {
    await start()
    behaviours.set('big', () => Promise.resolve(10n))
    behaviours.set('huge', () => Promise.resolve('x'.repeat(2 * 1024 * 1024)))
    let release: () => void = () => {}
    behaviours.set('slow', (input) => new Promise((resolve) => (release = () => resolve(input))))
    const slow = client!.ask('b', { type: 't', id: 'i', command: 'slow', input: { n: 1 } })
    for (const command of ['big', 'huge'])
      await assert.rejects(
        client!.ask('b', { type: 't', id: 'i', command, input: {} }),
        (error: Error) =>
          error instanceof OutcomeUnknownError && /ran on the owner/.test(error.message),
        command,
      )
    // The connection still carries the call that was under way with them.
    release()
    assert.deepEqual(await slow, { value: { n: 1 } })
  })

  it('a call too large for the channel fails alone, surely not run; the calls under way with it go on', async () => {
    await start()
    let release: () => void = () => {}
    behaviours.set('slow', (input) => new Promise((resolve) => (release = () => resolve(input))))
    const slow = client!.ask('b', { type: 't', id: 'i', command: 'slow', input: { n: 1 } })
    await poll('the slow call to reach the owner', () => served === 1, 10_000, 5)
    // An input the gateway takes (a body of exactly its default limit, 1 MiB), larger once
    // wrapped in a call.
    const input = { text: 'x'.repeat(1024 * 1024 - '{"text":""}'.length) }
    assert.equal(Buffer.byteLength(JSON.stringify(input)), 1024 * 1024)
    await assert.rejects(
      client!.ask('b', { type: 't', id: 'i', command: 'echo', input }),
      PayloadTooLargeError,
    )
    assert.equal(served, 1, 'the call too large did not run')
    release()
    assert.deepEqual(await slow, { value: { n: 1 } })
  })

  it('a node that stops reading: past MAX_UNSENT_BYTES waiting for it, a call fails at once, surely not run', async () => {
    // Accepts, then reads nothing: the calls pile up in the socket's buffers.
    const sockets: Socket[] = []
    const server = createServer((socket) => {
      socket.pause()
      socket.on('error', () => {})
      sockets.push(socket)
    })
    raw.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    client = channelClient(`tcp://127.0.0.1:${port}`, SECRET)
    try {
      const input = { text: 'x'.repeat(900 * 1024) }
      const underWay: Promise<unknown>[] = []
      let refused: unknown
      // The kernel's buffers take some MB too: the bound is reached well within 200 calls.
      for (let n = 0; n < 200 && refused === undefined; n++) {
        const call = client.ask(
          'b',
          { type: 't', id: 'i', command: 'c', input },
          { timeoutMs: 60_000 },
        )
        underWay.push(call.catch((error: unknown) => (refused ??= error)))
        // A refusal comes at once (no waiting on the member): it is seen by the next turn,
        // when the batched frames have gone to the socket too.
        await new Promise((resolve) => setImmediate(resolve))
      }
      assert.ok(refused instanceof MemberUnreachableError, String(refused))
      assert.match((refused as Error).message, /not reading its calls \(\d+ bytes wait/)
      assert.ok(
        underWay.length > MAX_UNSENT_BYTES / (900 * 1024),
        `refused after ${underWay.length} calls`,
      )
      await client.stop()
      client = undefined
      await Promise.all(underWay)
    } finally {
      for (const socket of sockets) socket.destroy()
    }
  })

  it('reads frames split at every byte, and several in one chunk', () => {
    const frames = [
      encodeFrame(1, FrameKind.ASK, { a: 'é'.repeat(300) }),
      encodeFrame(2, FrameKind.OK, {}),
      encodeFrame(0xffff_ffff, FrameKind.ERROR, { error: 'x' }),
    ]
    const bytes = Buffer.concat(frames)
    const read = (chunks: Buffer[]) => {
      const reader = new FrameReader(1024)
      const seen: Frame[] = []
      for (const chunk of chunks)
        reader.push(chunk, (frame) => seen.push({ ...frame, body: Buffer.from(frame.body) }))
      return seen.map((f) => [f.id, f.kind, JSON.parse(f.body.toString('utf8')) as unknown])
    }
    const whole = read([bytes])
    assert.deepEqual(whole, [
      [1, FrameKind.ASK, { a: 'é'.repeat(300) }],
      [2, FrameKind.OK, {}],
      [0xffff_ffff, FrameKind.ERROR, { error: 'x' }],
    ])
    assert.deepEqual(read([...bytes].map((b) => Buffer.from([b]))), whole)
    assert.throws(() => new FrameReader(10).push(frames[0]!, () => {}), /frame of/)
  })
})

/** Sends each JSON text as an ASK frame on one authenticated connection; resolves with the answers. */
async function rawCalls(
  url: string,
  bodies: readonly string[],
): Promise<{ kind: number; error?: string; message: string }[]> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  try {
    const frame = (id: number, kind: FrameKind, text: string) => {
      const body = Buffer.from(text)
      const header = Buffer.alloc(9)
      header.writeUInt32BE(5 + body.length, 0)
      header.writeUInt32BE(id, 4)
      header[8] = kind
      return Buffer.concat([header, body])
    }
    socket.write(frame(0, FrameKind.HELLO, JSON.stringify({ secret: SECRET })))
    bodies.forEach((text, i) => socket.write(frame(i + 1, FrameKind.ASK, text)))
    const answers = new Map<number, { kind: number; error?: string; message: string }>()
    const reader = new FrameReader(1024 * 1024)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${answers.size} of ${bodies.length} answers within 10 s`)),
        10_000,
      )
      socket.on('error', reject)
      socket.on('close', () => reject(new Error(`closed after ${answers.size} answers`)))
      socket.on('data', (chunk: Buffer) =>
        reader.push(chunk, (f) => {
          const json = JSON.parse(f.body.toString('utf8')) as { error?: string; message: string }
          answers.set(f.id, { kind: f.kind, ...json })
          if (answers.size === bodies.length) {
            clearTimeout(timer)
            resolve()
          }
        }),
      )
    })
    return bodies.map((_, i) => answers.get(i + 1)!)
  } finally {
    socket.destroy()
  }
}

function channelClient(url: string, secret: string): GeoChannelClient {
  return new GeoChannelClient({ urlOf: () => url, secret: () => secret, askTimeoutMs: 5_000 })
}

/**
 * A TCP listener that reads every call and answers none; `dropAll(n)` waits until `n` call
 * frames (after the hello) have arrived, then destroys the connections.
 */
async function silentNode(
  servers: Server[],
): Promise<{ url: string; dropAll: (calls: number) => Promise<void> }> {
  let frames = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const reader = new FrameReader(1024 * 1024)
    socket.on('data', (chunk: Buffer) => reader.push(chunk, () => frames++))
    socket.on('error', () => {})
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `tcp://127.0.0.1:${port}`,
    async dropAll(calls) {
      const deadline = Date.now() + 10_000
      while (frames < calls + 1) {
        if (Date.now() > deadline) throw new Error(`only ${frames} frames arrived`)
        await new Promise((resolve) => setImmediate(resolve))
      }
      for (const socket of sockets) socket.destroy()
    },
  }
}
