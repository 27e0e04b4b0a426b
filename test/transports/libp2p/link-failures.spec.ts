import assert from 'node:assert/strict'
import { systemClock, type Clock } from '../../../core/clock.js'
import { silentLogger } from '../../../core/logger.js'
import { STARTUP_GRACE_MS } from '../../../transports/libp2p/dial-failures.js'
import { freePort } from '../../support/ports.js'
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js'
import {
  addressOf,
  createGeo,
  note,
  removeDirs,
  startGeo,
  stopAllGeos,
  tally,
  waitFor,
  type TestGeo,
} from './in-process.js'

describe('fabric: cut, frozen and healed links (in-process, through a TCP proxy)', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  const proxies: TcpProxy[] = []

  afterEach(async () => {
    await Promise.allSettled(proxies.splice(0).map((p) => p.close()))
    await stopAllGeos()
  })

  after(async () => {
    await removeDirs(dirs)
  })

  /** a listens; b reaches a only through a proxy the test controls. */
  async function linkedPair(): Promise<{ a: TestGeo; b: TestGeo; proxy: TcpProxy }> {
    const ia = await createGeo('a')
    const ib = await createGeo('b')
    dirs.push(ia.dataDir, ib.dataDir)
    const a = await startGeo(ia, { peers: [{ geo: 'b', peerId: ib.peerId, addrs: [] }] })
    const port = Number(/\/tcp\/(\d+)/.exec(addressOf(a))![1])
    const proxy = await startTcpProxy({ targetPort: port })
    proxies.push(proxy)
    const b = await startGeo(ib, {
      peers: [{ geo: 'a', peerId: ia.peerId, addrs: [`/ip4/127.0.0.1/tcp/${proxy.port}`] }],
    })
    await waitFor('linked', () =>
      [a, b].every((g) => g.fabric.status().peers.every((p) => p.connected)),
    )
    return { a, b, proxy }
  }

  async function sameVectors(geos: TestGeo[]): Promise<boolean> {
    const vectors = await Promise.all(geos.map((g) => g.store.versionVector()))
    const key = (v: Record<string, number>) => JSON.stringify(Object.entries(v).sort())
    return vectors.every((v) => key(v) === key(vectors[0]!))
  }

  it('keeps writing on both sides of a cut link, then converges to identical state', async () => {
    const { a, b, proxy } = await linkedPair()
    await a.runtime.actor(note, 'doc').ask('set', { value: 'before' })
    await waitFor('first write replicated', () => sameVectors([a, b]))

    proxy.cut()
    await waitFor('both sides see the partition', () =>
      [a, b].every((g) => g.seen('peer.lost').length > 0),
    )
    const acknowledged: string[] = []
    for (let i = 0; i < 200; i++) {
      for (const [geo, name] of [
        [a, 'a'],
        [b, 'b'],
      ] as const) {
        await geo.runtime.actor(note, 'doc').ask('set', { value: `${name}${i}` })
        await geo.runtime.actor(tally, 'hits').ask('add', { by: 1 })
        acknowledged.push(`${name}${i}`)
      }
    }
    assert.ok(a.fabric.status().peers[0]!.lagEvents >= 400)

    proxy.restore()
    await waitFor('converged', () => sameVectors([a, b]), 20_000)
    const [docA, docB] = await Promise.all([
      a.runtime.actor(note, 'doc').state(),
      b.runtime.actor(note, 'doc').state(),
    ])
    assert.deepEqual(docA, docB)
    assert.deepEqual(new Set(docA.history), new Set(['before', ...acknowledged]))
    for (const g of [a, b])
      assert.deepEqual(await g.runtime.actor(tally, 'hits').state(), { value: 400 })
    await waitFor('partition.healed on both sides', () =>
      [a, b].every((g) => g.seen('partition.healed').length > 0),
    )
    for (const g of [a, b]) {
      const healed = g.seen('partition.healed')[0]!
      assert.ok(healed.durationMs > 0)
      assert.ok(healed.eventsIn >= 400 && healed.eventsOut >= 400, JSON.stringify(healed))
    }
    await waitFor('no lag', () =>
      [a, b].every((g) => g.fabric.status().peers.every((p) => p.lagEvents === 0 && p.connected)),
    )
  })

  it('notices a frozen peer within a few seconds and recovers once it thaws', async () => {
    const { a, b, proxy } = await linkedPair()
    const frozenAt = Date.now()
    proxy.freeze()
    await waitFor('b notices the frozen link', () => b.seen('peer.lost').length > 0, 10_000)
    const detectMs = Date.now() - frozenAt
    assert.ok(detectMs < 6_000, `detected after ${detectMs} ms`)
    await a.runtime.actor(tally, 'during').ask('add', { by: 3 })
    proxy.restore()
    await waitFor('converged after thaw', () => sameVectors([a, b]), 20_000)
    assert.deepEqual(await b.runtime.actor(tally, 'during').state(), { value: 3 })
  })

  it('replicates over a slow link', async () => {
    const { a, b, proxy } = await linkedPair()
    proxy.delay(40)
    for (let i = 0; i < 100; i++) await a.runtime.actor(tally, 'slow').ask('add', { by: 1 })
    await waitFor('converged over the slow link', () => sameVectors([a, b]), 20_000)
    assert.deepEqual(await b.runtime.actor(tally, 'slow').state(), { value: 100 })
    await waitFor('rtt measured', () => (b.fabric.status().peers[0]!.rttMs ?? 0) >= 40, 10_000)
  })

  it('reports a peer not listening yet as info while it starts, and warns once it never came up', async () => {
    const real = systemClock()
    let offsetMs = 0
    const clock: Clock = {
      now: () => real.now() + offsetMs,
      setTimer: (ms, fn) => real.setTimer(ms, fn),
    }
    const lines: string[] = []
    const logger = {
      ...silentLogger(),
      child: () => logger,
      debug: (message: string) => void lines.push(`debug ${message}`),
      info: (message: string) => void lines.push(`info ${message}`),
      warn: (message: string) => void lines.push(`warn ${message}`),
    }
    const ia = await createGeo('a')
    const ib = await createGeo('b')
    dirs.push(ia.dataDir, ib.dataDir)
    // Nothing listens on b's address: every dial is refused.
    const address = `/ip4/127.0.0.1/tcp/${await freePort()}`
    await startGeo(
      ia,
      { peers: [{ geo: 'b', peerId: ib.peerId, addrs: [address] }] },
      { clock, logger },
    )
    await waitFor('a dial refused', () =>
      lines.includes('info fabric peer not reachable yet; retrying'),
    )
    assert.ok(!lines.some((l) => l.startsWith('warn')), lines.join('\n'))
    // Past the grace with the peer never reached: a warning, once for that reason.
    offsetMs = STARTUP_GRACE_MS
    await waitFor('a warning', () => lines.includes('warn fabric dial failed'))
    const redials = () => lines.filter((l) => l === 'debug fabric redial scheduled').length
    const warnedAt = redials()
    await waitFor('three more refused dials', () => redials() >= warnedAt + 3)
    assert.equal(lines.filter((l) => l === 'warn fabric dial failed').length, 1, lines.join('\n'))
  })

  it('warns at once, even while starting, when a peer of several addresses answers with another key', async () => {
    const lines: string[] = []
    const logger = {
      ...silentLogger(),
      child: () => logger,
      info: (message: string, fields?: object) =>
        void lines.push(`info ${message} ${JSON.stringify(fields)}`),
      warn: (message: string, fields?: object) =>
        void lines.push(`warn ${message} ${JSON.stringify(fields)}`),
    }
    const ib = await createGeo('b')
    const ia = await createGeo('a')
    const wrong = await createGeo('other')
    dirs.push(ia.dataDir, ib.dataDir, wrong.dataDir)
    const b = await startGeo(ib, { peers: [] })
    // b's address under another PeerId, and an address where nothing listens.
    const addrs = [addressOf(b).replace(/\/p2p\/.*$/, ''), `/ip4/127.0.0.1/tcp/${await freePort()}`]
    await startGeo(ia, { peers: [{ geo: 'b', peerId: wrong.peerId, addrs }] }, { logger })
    await waitFor('a warning', () => lines.some((l) => l.startsWith('warn fabric dial failed')))
    const warning = lines.find((l) => l.startsWith('warn fabric dial failed'))!
    assert.ok(warning.includes(wrong.peerId), warning)
  })
})
