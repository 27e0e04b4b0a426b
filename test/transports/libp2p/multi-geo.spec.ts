import assert from 'node:assert/strict'
import { join } from 'node:path'
import { encodeFrame, PROTOCOL_VERSION } from '../../../transports/libp2p/frames.js'
import {
  poll,
  printGeoOutputs,
  startMultiGeo,
  stopAllMultiGeos,
  type Geo,
  type MultiGeo,
} from '../../support/multi-geo.js'
import { frameReader, startRawPeer, stopAllRawPeers } from './in-process.js'

interface CartState {
  items: Record<string, number>
  checkedOut: boolean
  late: string[]
}

/** The same JSON from every geo for each actor, or the first difference. */
async function sameEverywhere(geos: readonly Geo[], actors: Array<[string, string]>) {
  for (const [type, id] of actors) {
    const states = await Promise.all(geos.map((g) => g.state(type, id)))
    const first = JSON.stringify(states[0])
    if (!states.every((s) => JSON.stringify(s) === first)) return false
  }
  return true
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)]!
}

describe('fabric: real anywhere-node processes, one per geo, proxied links', function () {
  this.timeout(120_000)
  let cluster: MultiGeo | undefined

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') printGeoOutputs(cluster)
    await stopAllRawPeers()
    await stopAllMultiGeos()
    cluster = undefined
  })

  it('makes writes in one geo readable in the others, for every built-in actor', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b', 'c'] })
    const [a, b, c] = cluster.geos as [Geo, Geo, Geo]
    await a.command('counter', 'visits', 'increment', { by: 3 })
    await a.command('register', 'motd', 'set', { value: 'hello from a' })
    await a.command('set', 'tags', 'add', { element: 'blue' })
    await a.command('map', 'prefs', 'put', { key: 'lang', value: 'fr' })
    await a.command('cart', 'c1', 'add', { sku: 'tea', quantity: 2 })
    const actors: Array<[string, string]> = [
      ['counter', 'visits'],
      ['register', 'motd'],
      ['set', 'tags'],
      ['map', 'prefs'],
      ['cart', 'c1'],
    ]
    await poll('b and c see a’s writes', () => sameEverywhere([a, b, c], actors))
    assert.deepEqual(await c.state('counter', 'visits'), { value: 3 })
    assert.deepEqual(await b.state('register', 'motd'), { value: 'hello from a' })
    assert.deepEqual(await c.state('set', 'tags'), { elements: ['blue'] })
    assert.deepEqual((await b.state<CartState>('cart', 'c1')).items, { tea: 2 })
  })

  it('keeps both sides of a partition writing, then heals to identical state with every acknowledged write', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b', 'c'] })
    const [a, b, c] = cluster.geos as [Geo, Geo, Geo]
    await a.command('cart', 'shared', 'add', { sku: 'before' })
    await poll('cart replicated', () => sameEverywhere([a, b, c], [['cart', 'shared']]))

    cluster.partition(['a'], ['b', 'c'])
    await poll('a sees both peers lost', async () =>
      (await a.fabric()).peers.every((p) => !p.connected),
    )
    const acked = {
      increments: 0,
      elements: [] as string[],
      keys: [] as string[],
      skus: ['before'],
    }
    const writers = [a, b].map(async (geo) => {
      for (let i = 0; i < 40; i++) {
        await geo.command('counter', 'hits', 'increment', { by: 1 })
        acked.increments++
        const tag = `${geo.name}${i}`
        await geo.command('set', 'seen', 'add', { element: tag })
        acked.elements.push(tag)
        await geo.command('map', 'm', 'put', { key: tag, value: i })
        acked.keys.push(tag)
        await geo.command('register', 'last', 'set', { value: tag })
        const reply = await geo.command<{ accepted: boolean }>('cart', 'shared', 'add', {
          sku: tag,
        })
        if (reply.accepted) acked.skus.push(tag)
        // Checkout happens in b mid-partition: a keeps adding, unaware (order-dependent).
        if (geo === b && i === 20) await b.command('cart', 'shared', 'checkout', {})
      }
    })
    await Promise.all(writers)
    // Adds in a after b's checkout (same clock, later stamps): they must end up late everywhere.
    for (let i = 0; i < 3; i++) {
      await a.command('cart', 'shared', 'add', { sku: `after${i}` })
      acked.skus.push(`after${i}`)
    }
    // c is on b's side: it already has b's writes, not a's.
    assert.equal(
      (await c.state<{ elements: string[] }>('set', 'seen')).elements.some((e) =>
        e.startsWith('a'),
      ),
      false,
    )

    cluster.heal()
    const actors: Array<[string, string]> = [
      ['counter', 'hits'],
      ['set', 'seen'],
      ['map', 'm'],
      ['register', 'last'],
      ['cart', 'shared'],
    ]
    await cluster.waitReplicated(60_000)
    await poll('identical everywhere', () => sameEverywhere([a, b, c], actors), 30_000)

    assert.deepEqual(await c.state('counter', 'hits'), { value: acked.increments })
    assert.deepEqual(
      (await b.state<{ elements: string[] }>('set', 'seen')).elements,
      [...acked.elements].sort(),
    )
    const map = await a.state<{ entries: Record<string, unknown> }>('map', 'm')
    assert.deepEqual(Object.keys(map.entries).sort(), [...acked.keys].sort())
    const register = await c.state<{ value: string }>('register', 'last')
    assert.ok(acked.elements.includes(register.value))
    const cart = await a.state<CartState>('cart', 'shared')
    assert.equal(cart.checkedOut, true)
    // Every acknowledged add is either in the order or recorded as late, in every geo alike.
    assert.deepEqual([...Object.keys(cart.items), ...cart.late].sort(), [...acked.skus].sort())
    for (let i = 0; i < 3; i++) assert.ok(cart.late.includes(`after${i}`), `after${i} is late`)

    const healed = (await a.fabric()).peers
    assert.ok(healed.every((p) => p.connected && p.lagEvents === 0 && p.lagMs === 0))
  })

  it('keeps serving when one geo is SIGKILLed under load, and the restarted geo catches up', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b', 'c'], store: 'file' })
    const [a, b, c] = cluster.geos as [Geo, Geo, Geo]
    // c's own acknowledged writes must survive its crash (file store) and reach everyone.
    for (let i = 0; i < 20; i++) await c.command('set', 'from-c', 'add', { element: `c${i}` })

    let stop = false
    const failures: string[] = []
    let acknowledged = 0
    const load = [a, b].map(async (geo) => {
      for (let i = 0; !stop && i < 5_000; i++) {
        try {
          await geo.command('counter', 'load', 'increment', { by: 1 })
          acknowledged++
        } catch (error) {
          failures.push(String(error))
        }
      }
    })
    await poll('load under way', () => acknowledged >= 100, 30_000, 20)
    await c.kill('SIGKILL')
    const killedAt = acknowledged
    await poll('load continues without c', () => acknowledged >= killedAt + 200, 30_000, 20)
    stop = true
    await Promise.all(load)
    assert.deepEqual(failures, [])

    await c.restart()
    await cluster.waitReplicated(60_000)
    await poll(
      'c caught up',
      () =>
        sameEverywhere(
          [a, b, c],
          [
            ['counter', 'load'],
            ['set', 'from-c'],
          ],
        ),
      30_000,
    )
    assert.deepEqual(await c.state('counter', 'load'), { value: acknowledged })
    assert.equal((await a.state<{ elements: string[] }>('set', 'from-c')).elements.length, 20)
  })

  it('keeps command latency in a geo unchanged with every link cut', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b'] })
    const a = cluster.geo('a')
    const measure = async (label: string) => {
      const latencies: number[] = []
      for (let i = 0; i < 150; i++) {
        const started = performance.now()
        await a.command('counter', `lat-${label}-${i % 10}`, 'increment', { by: 1 })
        latencies.push(performance.now() - started)
      }
      return median(latencies)
    }
    await measure('warmup')
    const connected = await measure('connected')
    cluster.isolateAll()
    await poll('a sees the partition', async () =>
      (await a.fabric()).peers.every((p) => !p.connected),
    )
    const isolated = await measure('isolated')
    // Loose bounds on 2 shared cores: this checks "does not wait on the fabric", not speed.
    assert.ok(
      isolated < connected * 3 + 10,
      `median ${isolated.toFixed(2)} ms with links cut vs ${connected.toFixed(2)} ms connected`,
    )
    assert.ok((await a.fabric()).peers[0]!.lagEvents >= 150)
  })

  it('notices a frozen geo (SIGSTOP) within a few seconds and catches it up after SIGCONT', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b'] })
    const [a, b] = cluster.geos as [Geo, Geo]
    b.signal('SIGSTOP')
    const frozenAt = Date.now()
    try {
      await poll(
        'a notices b is frozen',
        async () => (await a.fabric()).peers.every((p) => !p.connected),
        15_000,
      )
      const detectMs = Date.now() - frozenAt
      assert.ok(detectMs < 10_000, `frozen peer noticed after ${detectMs} ms`)
      await a.command('counter', 'while-frozen', 'increment', { by: 4 })
    } finally {
      b.signal('SIGCONT')
    }
    await cluster.waitReplicated(30_000)
    assert.deepEqual(await b.state('counter', 'while-frozen'), { value: 4 })
  })

  it('refuses a stranger, and survives garbage and oversized frames from an allowlisted key', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b'] })
    const [a, b] = cluster.geos as [Geo, Geo]
    await a.command('counter', 'safe', 'increment', { by: 1 })
    await cluster.waitReplicated()
    const address = `/ip4/127.0.0.1/tcp/${a.fabricPort}/p2p/${a.peerId}`

    const stranger = await startRawPeer(join(b.dataDir, 'stranger-key'))
    await assert.rejects(stranger.open(address))

    // b's key is allowlisted: stop b and speak for it with garbage.
    await b.kill('SIGKILL')
    const impostor = await startRawPeer(join(b.dataDir, 'peer-key'))
    for (const junk of [
      Uint8Array.from([0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]),
      Uint8Array.from([0x10, 0, 0, 0, 1, 2, 3, 4]),
    ]) {
      const stream = await impostor.open(address)
      const reader = frameReader(stream)
      stream.send(
        encodeFrame({
          t: 'hello',
          protocol: PROTOCOL_VERSION,
          app: 'anywhere',
          geo: 'b',
          node: 'impostor',
          vector: {},
        }),
      )
      assert.equal((await reader.next())?.t, 'hello')
      stream.send(junk)
      await poll('stream closed by a', () => reader.closed(), 10_000, 20)
    }
    // a still serves, replicates nothing from the junk, and takes b back once it returns.
    assert.deepEqual(await a.state('counter', 'safe'), { value: 1 })
    await a.command('counter', 'safe', 'increment', { by: 1 })
    await impostor.stop()
    await b.restart()
    await cluster.waitReplicated()
    assert.deepEqual(await b.state('counter', 'safe'), { value: 2 })
  })
})
