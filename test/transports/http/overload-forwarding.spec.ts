// An overloaded geo hands a share of the requests that reach it directly to the nearest ready
// geo over the fabric (one hop), or answers 503 with Retry-After when no geo can take them.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { z } from 'zod'
import { defineActor, type TapEvent } from '../../../core/index.js'
import { createNode, type AnywhereNode, type NodeConfigInput } from '../../../node/index.js'
import {
  FORWARD_PROTOCOL,
  encodeForwardRequest,
} from '../../../transports/libp2p/forward-frames.js'
import { encodeFrame } from '../../../transports/libp2p/frames.js'
import { cleanUpAfterEach, createGeo, FAST, startRawPeer, waitFor } from '../libp2p/in-process.js'
import { multiaddr } from '@multiformats/multiaddr'

const releases: Array<() => void> = []

/** A command held in its handler until the test releases it: requests in flight for real. */
const gate = defineActor({
  type: 'gate',
  initialState: {},
  events: { passed: z.object({}) },
  apply: (state) => state,
  commands: (command) => ({
    wait: command(z.object({}), async (ctx) => {
      await new Promise<void>((resolve) => releases.push(resolve))
      ctx.emit('passed', {})
      return {}
    }),
  }),
})

const SMALL_LIMIT = { sampleMs: 20, maxInFlight: 2, tripAfterSamples: 1, recoverAfterMs: 200 }

describe('gateway: an overloaded geo sheds to another geo over the fabric', function () {
  this.timeout(60_000)
  const dirs = cleanUpAfterEach()
  const nodes: AnywhereNode[] = []
  afterEach(async () => {
    for (const release of releases.splice(0)) release()
    await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
  })

  async function startNode(config: NodeConfigInput): Promise<AnywhereNode> {
    const node = await createNode(
      {
        app: 'forward-test',
        store: { kind: 'memory' },
        http: { port: 0 },
        log: { level: 'silent' },
        ...config,
      },
      { actors: [gate] },
    )
    nodes.push(node)
    await node.start()
    return node
  }

  async function pair(): Promise<[AnywhereNode, AnywhereNode]> {
    const a = await createGeo('a')
    const b = await createGeo('b')
    dirs.push(a.dataDir, b.dataDir)
    const fabric = { listen: ['/ip4/127.0.0.1/tcp/0'], ...FAST, heartbeatMs: 100 }
    const nodeA = await startNode({
      geo: 'a',
      dataDir: a.dataDir,
      fabric: { ...fabric, peers: [{ geo: 'b', peerId: b.peerId, addrs: [] }] },
    })
    const nodeB = await startNode({
      geo: 'b',
      dataDir: b.dataDir,
      overload: SMALL_LIMIT,
      fabric: {
        ...fabric,
        peers: [{ geo: 'a', peerId: a.peerId, addrs: nodeA.fabric!.listenAddresses() }],
      },
    })
    await waitFor('b to hear that a is ready', () =>
      nodeB.fabric!.status().peers.some((p) => p.advert?.ready === true),
    )
    return [nodeA, nodeB]
  }

  /** Holds `n` commands in b's handlers until the test releases them. */
  async function hold(node: AnywhereNode, n: number): Promise<Array<Promise<Response>>> {
    const held = Array.from({ length: n }, (_, i) =>
      fetch(`${node.gateway!.url}/v1/actors/gate/g${i}/wait`, { method: 'POST', body: '{}' }),
    )
    await waitFor('the held commands to be in their handlers', () => releases.length === n)
    await waitFor('the node to shed', () => node.overload.report().shedShare >= 0.5)
    return held
  }

  it('forwards a share of direct requests to the nearest ready geo, applies each once, and keeps all of them once recovered', async () => {
    const [a, b] = await pair()
    const routed: TapEvent[] = []
    b.taps.of('request.routed').subscribe((t) => routed.push(t))
    const held = await hold(b, 3)
    const servedBy: Record<string, number> = {}
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${b.gateway!.url}/v1/actors/counter/shed/increment`, {
        method: 'POST',
        body: '{}',
      })
      assert.equal(response.status, 200, await response.clone().text())
      const geo = response.headers.get('x-anywhere-geo')!
      servedBy[geo] = (servedBy[geo] ?? 0) + 1
    }
    assert.ok((servedBy.a ?? 0) > 0, JSON.stringify(servedBy))
    assert.ok(
      routed.some((t) => t.kind === 'request.routed' && t.to === 'a' && t.reason === 'overloaded'),
    )
    // The metric counts exactly what the taps say was handed over.
    const scrape = await (await fetch(`${b.gateway!.url}/metrics`)).text()
    const line =
      /^anywhere_requests_routed_total\{[^}]*reason="overloaded"[^}]*to_geo="a"[^}]*\} (\d+)$/m.exec(
        scrape,
      )
    assert.equal(
      Number(line?.[1]),
      servedBy.a,
      scrape
        .split('\n')
        .filter((l) => l.includes('routed'))
        .join('\n'),
    )
    // Each forwarded increment ran once, in a; after replication both geos count 40.
    await waitFor('both geos to count 40', async () => {
      const [va, vb] = await Promise.all([a, b].map((n) => n.runtime.read('counter', 'shed')))
      return (
        (va!.state as { value: number }).value === 40 &&
        (vb!.state as { value: number }).value === 40
      )
    })

    for (const release of releases.splice(0)) release()
    await Promise.all(held)
    await waitFor('b to recover', () => b.overload.report().shedShare === 0, 10_000)
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${b.gateway!.url}/v1/actors/counter/after/increment`, {
        method: 'POST',
        body: '{}',
      })
      assert.equal(
        response.headers.get('x-anywhere-geo'),
        'b',
        'nothing leaves a geo that is not overloaded',
      )
    }
  })

  it('does not shed requests that came through an edge or from another geo (one hop)', async () => {
    const [, b] = await pair()
    const held = await hold(b, 3)
    for (const header of ['anywhere-edge', 'anywhere-forwarded']) {
      for (let i = 0; i < 10; i++) {
        const response = await fetch(`${b.gateway!.url}/v1/actors/counter/kept/increment`, {
          method: 'POST',
          body: '{}',
          headers: { [header]: '1' },
        })
        assert.equal(response.headers.get('x-anywhere-geo'), 'b')
      }
    }
    for (const release of releases.splice(0)) release()
    await Promise.all(held)
  })

  it('answers 503 with Retry-After when no other geo can take the shed share', async () => {
    const solo = await startNode({ geo: 'solo', overload: SMALL_LIMIT })
    const held = await hold(solo, 3)
    const statuses: number[] = []
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${solo.gateway!.url}/v1/actors/counter/solo/increment`, {
        method: 'POST',
        body: '{}',
      })
      statuses.push(response.status)
      if (response.status === 503) {
        assert.equal(response.headers.get('retry-after'), '1')
        assert.equal(((await response.json()) as { error: string }).error, 'OverloadedError')
      }
    }
    assert.ok(statuses.includes(503), JSON.stringify(statuses))
    const applied = (await solo.runtime.read('counter', 'solo')).state as { value: number }
    for (const release of releases.splice(0)) release()
    await Promise.all(held)
    assert.equal(
      applied.value,
      statuses.filter((s) => s === 200).length,
      'a refused request changed nothing',
    )
  })

  it('refuses hostile forward frames from an allowlisted peer and keeps serving', async () => {
    const target = await createGeo('target')
    const intruder = await createGeo('raw')
    dirs.push(target.dataDir, intruder.dataDir)
    const node = await startNode({
      geo: 'target',
      dataDir: target.dataDir,
      fabric: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        ...FAST,
        peers: [{ geo: 'raw', peerId: intruder.peerId, addrs: [] }],
      },
    })
    const raw = await startRawPeer(join(intruder.dataDir, 'peer-key'))
    const address = multiaddr(node.fabric!.listenAddresses()[0]!)
    const valid = encodeForwardRequest({ method: 'GET', path: '/v1/actors/counter/x', headers: {} })
    const hostile: Array<[string, Uint8Array]> = [
      ['garbage', Uint8Array.from([0, 0, 0, 4, 0xc1, 0xc1, 0xc1, 0xc1])],
      ['a replication frame', encodeFrame({ t: 'ping', at: 1 })],
      ['a declared length over the limit', Uint8Array.from([0x7f, 0xff, 0xff, 0xff])],
      ['a path that is not a path', rewrite(valid, '/v1/actors/counter/x', 'x/v1/actors/counter/')],
    ]
    for (const [what, bytes] of hostile) {
      const stream = await raw.node.dialProtocol(address, FORWARD_PROTOCOL)
      stream.send(bytes)
      const ended = await new Promise<string>((resolve) => {
        let text = ''
        stream.addEventListener('message', () => (text += 'data'))
        stream.addEventListener('close', () => resolve(text))
        setTimeout(() => resolve('still open'), 10_000)
      })
      assert.notEqual(ended, 'still open', what)
      assert.equal(ended, '', `${what}: answered`)
    }
    // A valid one is served as a read of this node, and the node still serves HTTP.
    const stream = await raw.node.dialProtocol(address, FORWARD_PROTOCOL)
    stream.send(valid)
    const answered = await new Promise<boolean>((resolve) => {
      stream.addEventListener('message', () => resolve(true))
      setTimeout(() => resolve(false), 10_000)
    })
    assert.ok(answered)
    assert.equal((await fetch(`${node.gateway!.url}/readyz`)).status, 200)
  })
})

/** `bytes` with one ASCII string replaced by another of the same length. */
function rewrite(bytes: Uint8Array, from: string, to: string): Uint8Array {
  assert.equal(from.length, to.length)
  const text = Buffer.from(bytes).toString('latin1').replace(from, to)
  return Uint8Array.from(Buffer.from(text, 'latin1'))
}
