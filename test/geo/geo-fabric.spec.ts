// Two geos of two nodes each (issue 10, part 4): real redis-server, real node processes, and
// a TCP proxy on every fabric link between the geos so the test can partition them. Each geo
// replicates through whichever of its nodes holds the replicator lease; the others' writes
// reach the other geo through the geo's Redis. The cases run in order on the same geos.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { RedisKeys } from '../../stores/redis/keys.js'
import { openNotice } from '../../transports/libp2p/retirement-notice.js'
import { poll } from '../support/multi-geo.js'
import { runNodeCommand, startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { freePort } from '../support/ports.js'
import {
  requireRedisServer,
  startRedisServer,
  uniquePrefix,
  type RedisServer,
} from '../support/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'

const CONFIG = fileURLToPath(new URL('fixtures/geo-node.config.ts', import.meta.url))
/** The fixture's `members.timeoutMs`. */
const MEMBERSHIP_TIMEOUT_MS = 3_000
const GEOS = { a: ['a1', 'a2'], b: ['b1', 'b2'] } as const
type GeoName = keyof typeof GEOS
const COUNTERS = 6

interface Member {
  name: string
  geo: GeoName
  dataDir: string
  fabricPort: number
  process?: NodeProcess
}

interface HelloView {
  sharedBase: boolean
  sentOrigins: number
  receivedOrigins: number
  /** Retirement notices the sender passed on after the hello. */
  notices: number
}

interface FabricView {
  peerId: string
  listen: string[]
  peers: {
    connected: boolean
    lagEvents: number
    hellos: { sender?: HelloView; receiver?: HelloView }
  }[]
}

describe('two geos of two nodes each replicate through one node per geo', function () {
  this.timeout(600_000)
  let redis: RedisServer | undefined
  const members = new Map<string, Member>()
  const proxies: TcpProxy[] = []
  const peerIds = new Map<GeoName, string>()
  const prefixes = new Map<GeoName, string>()
  /** Idempotency keys acknowledged per counter (each counts once, whatever was retried). */
  const acked = new Map<string, Set<string>>()

  const live = (geo?: GeoName) =>
    [...members.values()].filter(
      (m) => m.process && m.process.exitCode() === undefined && (!geo || m.geo === geo),
    )
  const url = (m: Member) => m.process!.url

  async function fabricOf(m: Member): Promise<FabricView> {
    const response = await fetch(`${url(m)}/v1/fabric`, { signal: AbortSignal.timeout(10_000) })
    return (await response.json()) as FabricView
  }

  /** The node of `geo` that replicates for it, once exactly one does and its link is up. */
  async function replicatorOf(geo: GeoName, timeoutMs = 60_000): Promise<Member> {
    let seen = ''
    let found: Member | undefined
    await poll(
      `one node of geo ${geo} replicating, connected to the other geo (seen: ${seen})`,
      async () => {
        const views = await Promise.all(live(geo).map(async (m) => [m, await fabricOf(m)] as const))
        seen = JSON.stringify(views.map(([m, v]) => [m.name, v.listen.length, v.peers]))
        const replicating = views.filter(([, v]) => v.peers.length > 0)
        if (replicating.length !== 1 || !replicating[0]![1].peers.every((p) => p.connected))
          return false
        found = replicating[0]![0]
        return true
      },
      timeoutMs,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${seen}`)
    })
    return found!
  }

  /** One keyed increment through `via`; true when acknowledged (the key is then counted). */
  async function increment(via: Member, counter: string, key: string): Promise<boolean> {
    try {
      const response = await fetch(`${url(via)}/v1/actors/counter/${counter}/increment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ by: 1 }),
        signal: AbortSignal.timeout(30_000),
      })
      await response.text()
      if (!response.ok) return false
    } catch {
      return false
    }
    let keys = acked.get(counter)
    if (!keys) acked.set(counter, (keys = new Set()))
    keys.add(key)
    return true
  }

  /** Increments until acknowledged, trying each live node of `geo` in turn (bounded). */
  async function incrementSurely(geo: GeoName, counter: string, key: string): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const nodes = live(geo)
      if (nodes.length > 0 && (await increment(nodes[attempt % nodes.length]!, counter, key)))
        return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`increment ${counter} (key ${key}) was never acknowledged in geo ${geo}`)
  }

  async function valueAt(m: Member, counter: string): Promise<number> {
    const response = await fetch(`${url(m)}/v1/actors/counter/${counter}`, {
      signal: AbortSignal.timeout(10_000),
    })
    return ((await response.json()) as { value: number }).value
  }

  /** Every live node of both geos holds, for every counter, the count of its acknowledged keys. */
  async function converged(timeoutMs = 60_000): Promise<void> {
    let seen = ''
    await poll(
      `every node to hold every acknowledged increment exactly once (seen: ${seen})`,
      async () => {
        const rows = await Promise.all(
          live().map(async (m) => {
            const values = await Promise.all(
              [...acked.keys()].map(async (c) => [c, await valueAt(m, c)] as const),
            )
            return [m.name, values] as const
          }),
        )
        seen = JSON.stringify(rows)
        return rows.every(([, values]) =>
          values.every(([counter, value]) => value === acked.get(counter)!.size),
        )
      },
      timeoutMs,
    ).catch((error: Error) => {
      const want = JSON.stringify([...acked].map(([c, keys]) => [c, keys.size]))
      throw new Error(`${error.message}; want ${want}; seen ${seen}`)
    })
  }

  async function start(m: Member, prefix: string): Promise<void> {
    const other: GeoName = m.geo === 'a' ? 'b' : 'a'
    const peers: string[] = []
    for (const target of GEOS[other]) {
      const proxy = await startTcpProxy({ targetPort: members.get(target)!.fabricPort })
      proxies.push(proxy)
      peers.push('--peer', `/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${peerIds.get(other)!}`)
    }
    m.process = await startNodeProcess({
      args: [
        'start',
        '--config',
        CONFIG,
        '--geo',
        m.geo,
        '--port',
        '0',
        '--data-dir',
        m.dataDir,
        '--redis-url',
        redis!.url,
        '--redis-prefix',
        prefix,
        '--fabric-listen',
        `/ip4/127.0.0.1/tcp/${m.fabricPort}`,
        ...peers,
        '--log-format',
        'json',
      ],
      env: { ANYWHERE_NODE_FROM_SOURCE: '1' },
      timeoutMs: 90_000,
    })
  }

  before(requireRedisServer)
  before(async () => {
    redis = await startRedisServer({ appendfsync: 'always' })
    for (const geo of ['a', 'b'] as const)
      for (const name of GEOS[geo])
        members.set(name, {
          name,
          geo,
          dataDir: await mkdtemp(join(tmpdir(), `anywhere-geo-fabric-${name}-`)),
          fabricPort: await freePort(),
        })
    // A geo's key is its first node's: the one whose key the first start puts in Redis.
    for (const geo of ['a', 'b'] as const) {
      const id = await runNodeCommand(['id', '--data-dir', members.get(GEOS[geo][0])!.dataDir])
      peerIds.set(geo, id.stdout.trim())
    }
    for (const geo of ['a', 'b'] as const) prefixes.set(geo, uniquePrefix(`geo-${geo}`))
    // One at a time, first nodes first: each start compiles the sources.
    for (const name of ['a1', 'b1', 'a2', 'b2'])
      await start(members.get(name)!, prefixes.get(members.get(name)!.geo)!)
    // Each replicator issued a notice when it started alone, and issues the next (both its
    // geo's nodes live) at a refresh after the second joined. The cases compare notices
    // across a takeover: they start once both geos keep both notices with every node live.
    let seen = ''
    await poll(
      'each geo to keep both geos` notices, listing both nodes of each live',
      async () => {
        const kept = await Promise.all((['a', 'b'] as const).map(keptNotices))
        seen = JSON.stringify(kept.map((live) => Object.fromEntries(live)))
        return kept.every((live) => [...peerIds.values()].every((key) => (live.get(key) ?? 0) >= 2))
      },
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; live origins per key kept in a, b: ${seen}`)
    })
  })

  /** Per key, how many origins the notice kept in `geo`'s Redis lists live. */
  async function keptNotices(geo: GeoName): Promise<Map<string, number>> {
    const client = new Redis(redis!.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    client.on('error', () => undefined) // the call below fails with what went wrong
    try {
      await client.connect()
      const kept = await client.hgetallBuffer(
        new RedisKeys(prefixes.get(geo)!, 'plain').retiredNotices(),
      )
      const live = new Map<string, number>()
      for (const [key, bytes] of Object.entries(kept)) {
        const opened = openNotice(key, bytes.subarray(64), bytes.subarray(0, 64))
        assert.notEqual(typeof opened, 'string', `the notice of ${key} kept in geo ${geo}`)
        if (typeof opened !== 'string') live.set(key, opened.notice.live.length)
      }
      return live
    } finally {
      client.disconnect()
    }
  }
  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return
    for (const m of members.values())
      process.stderr.write(`--- output of ${m.name} ---\n${m.process?.output().slice(-4_000)}\n`)
  })
  after(async () => {
    await Promise.allSettled(
      [...members.values()].flatMap((m) => (m.process ? [m.process.kill('SIGKILL')] : [])),
    )
    await Promise.allSettled(proxies.map((p) => p.close()))
    await redis?.stop()
    await Promise.allSettled(
      [...members.values()].map((m) => rm(m.dataDir, { recursive: true, force: true })),
    )
  })

  it("runs one fabric per geo under the geo's key, and every node's writes reach the other geo", async () => {
    const ra = await replicatorOf('a')
    const rb = await replicatorOf('b')
    for (const geo of ['a', 'b'] as const) {
      const views = await Promise.all(live(geo).map(fabricOf))
      assert.deepEqual(
        views.map((v) => v.peerId),
        views.map(() => peerIds.get(geo)),
        `every node of geo ${geo} names the geo's PeerId`,
      )
    }
    // Through every node, the ones that do not replicate too.
    await Promise.all(
      live().flatMap((m) =>
        Array.from({ length: COUNTERS }, async (_, c) => {
          for (let i = 0; i < 5; i++)
            assert.ok(await increment(m, `c${c}`, randomUUID()), `increment through ${m.name}`)
        }),
      ),
    )
    await converged()
    assert.equal((await replicatorOf('a')).name, ra.name, 'the lease stays where it is')
    assert.equal((await replicatorOf('b')).name, rb.name)
  })

  it('keeps both geos writing through a partition and converges after it', async () => {
    for (const proxy of proxies) proxy.cut()
    const before = await valueAt(live('b')[0]!, 'c0')
    await Promise.all(
      live().flatMap((m) =>
        Array.from({ length: COUNTERS }, async (_, c) => {
          for (let i = 0; i < 3; i++) await incrementSurely(m.geo, `c${c}`, randomUUID())
        }),
      ),
    )
    // Each geo serves its own writes meanwhile, and sees none of the other's.
    const own = 2 * 3
    assert.equal(await valueAt(live('b')[1]!, 'c0'), before + own)
    for (const proxy of proxies) proxy.restore()
    await converged()
  })

  it('keeps replicating when the node that replicates for a geo is killed, losing and doubling nothing', async () => {
    const victim = await replicatorOf('a')
    let stop = false
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let n = 0; n < 2_000 && !stop; n++)
        await incrementSurely('a', `c${(w + n) % COUNTERS}`, `${w}-${n}-${randomUUID()}`)
    })
    await poll('some writes under way', () => (acked.get('c0')?.size ?? 0) > 0)
    const killedAt = Date.now()
    await victim.process!.kill('SIGKILL')
    // Replication is back once another node of geo a runs the fabric, connected to geo b:
    // within the lease's expiry (a heartbeat before the membership timeout) and a quarter
    // heartbeat, plus the fabric's start and dial.
    let replicationGap = 0
    await poll(
      'another node of geo a to replicate, connected to geo b',
      async () => {
        const views = await Promise.all(live('a').map(fabricOf))
        const back = views.some((v) => v.peers.length > 0 && v.peers.every((p) => p.connected))
        if (back) replicationGap = Date.now() - killedAt
        return back
      },
      60_000,
      25,
    )
    // The node that took over holds the notices the victim held (kept in the geo's Redis):
    // its first hellos with geo b leave out the same retired origins as before.
    let hellos: FabricView['peers'][number]['hellos'] = {}
    await poll('the new replicator`s first hellos, both ways', async () => {
      const views = await Promise.all(live('a').map(fabricOf))
      hellos = views.find((v) => v.peers.length > 0)?.peers[0]?.hellos ?? {}
      return hellos.sender !== undefined && hellos.receiver !== undefined
    })
    // It lacked none of geo b's notices: b passed it none after the hellos (the notices
    // settled before the cases began, and the new replicator issues its own only once both
    // hellos went). Should the bases differ anyway, the notice goes at once, before any event.
    let hellosOfB: FabricView['peers'][number]['hellos'] = {}
    await poll('geo b`s hellos with the new replicator', async () => {
      const views = await Promise.all(live('b').map(fabricOf))
      hellosOfB = views.find((v) => v.peers.length > 0)?.peers[0]?.hellos ?? {}
      return hellosOfB.sender !== undefined
    })
    assert.equal(hellosOfB.sender?.notices, 0, JSON.stringify({ a: hellos, b: hellosOfB }))
    assert.ok(
      (hellos.sender?.sharedBase === true && hellos.receiver?.sharedBase === true) ||
        (hellos.sender?.notices ?? 0) > 0,
      JSON.stringify(hellos),
    )
    // And a write made in geo a after the kill shows up in geo b.
    const marker = `after-kill-${randomUUID()}`
    await incrementSurely('a', marker, randomUUID())
    await poll(
      `the write made after the kill to reach geo b`,
      async () => (await valueAt(live('b')[0]!, marker)) === 1,
      60_000,
      50,
    )
    stop = true
    await Promise.all(writers)
    const survivor = await replicatorOf('a')
    assert.notEqual(survivor.name, victim.name)
    await converged()
    // Bounded generously: a loaded machine delays the fabric's start and the dial, not the lease.
    assert.ok(
      replicationGap < MEMBERSHIP_TIMEOUT_MS + 15_000,
      `replication resumed ${replicationGap} ms after the kill`,
    )
    process.stdout.write(
      `      (replication resumed ${replicationGap} ms after the kill; membership timeout ${MEMBERSHIP_TIMEOUT_MS} ms)\n`,
    )
  })

  it('moves replication off a node paused past the lease, which stops replicating when it resumes', async () => {
    const paused = await replicatorOf('b')
    const other = live('b').find((m) => m !== paused)!
    paused.process!.signal('SIGSTOP')
    try {
      const marker = `while-paused-${randomUUID()}`
      // Its actor may be the paused node's: retried through the other one until it moves.
      const key = randomUUID()
      await poll(`an increment through ${other.name}`, () => increment(other, marker, key), 60_000)
      await poll(
        'the write made while the replicator is paused to reach geo a',
        async () => (await valueAt(live('a')[0]!, marker)) === 1,
        60_000,
      )
    } finally {
      paused.process!.signal('SIGCONT')
    }
    // Resumed, it finds another node holds the lease; once it has stopped, one node replicates.
    assert.equal((await replicatorOf('b')).name, other.name)
    await Promise.all(
      live().map((m) => incrementSurely(m.geo, 'c0', `after-pause-${m.name}-${randomUUID()}`)),
    )
    await converged()
  })
})
