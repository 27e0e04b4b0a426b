// Property 9, if and only if: three real geos, one real edge, links with real distance.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { startNodeProcess, type NodeProcess } from '../support/node-process.js'
import { poll, printGeoOutputs, startMultiGeo, type MultiGeo } from '../support/multi-geo.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { percentile, servedBy, startLoad, type Sample } from './load.js'

const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url))

/** One-way delay added to each chunk between the edge and each geo: b is nearest, then a, then c. */
const DELAY_MS = { a: 20, b: 2, c: 60 } as const

describe('failure routing: 3 geos, 1 edge, delaying links', function () {
  this.timeout(180_000)
  let cluster: MultiGeo | undefined
  let edgeProcess: NodeProcess | undefined
  const proxies = new Map<string, TcpProxy>()
  let edgeUrl = ''

  before(async () => {
    cluster = await startMultiGeo({
      geos: ['a', 'b', 'c'],
      store: 'file',
      configFile: fixture('geo.config.ts'),
      configFiles: { b: fixture('geo-small.config.ts') },
    })
    for (const geo of cluster.geos) {
      const proxy = await startTcpProxy({ targetPort: Number(new URL(geo.url).port) })
      proxy.delay(DELAY_MS[geo.name as keyof typeof DELAY_MS])
      proxies.set(geo.name, proxy)
    }
    edgeProcess = await startNodeProcess({
      args: [
        'edge',
        '--port',
        '0',
        '--probe-interval-ms',
        '100',
        // Probes on a loaded test machine can take a while: 100 + 1500 ms still finds a frozen geo within 2 s.
        '--probe-timeout-ms',
        '1500',
        ...[...proxies].flatMap(([name, proxy]) => [
          '--geo',
          `${name}=http://127.0.0.1:${proxy.port}`,
        ]),
      ],
    })
    edgeUrl = edgeProcess.url
  })

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return
    printGeoOutputs(cluster)
    process.stderr.write(`--- output of the edge ---\n${edgeProcess?.output().slice(-4_000)}\n`)
  })

  after(async () => {
    await edgeProcess?.kill('SIGKILL')
    await Promise.allSettled([...proxies.values()].map((p) => p.close()))
    await cluster?.stop()
  })

  async function edgeStatus(): Promise<{
    geos: Array<{
      name: string
      up: boolean
      overloaded: boolean
      shedShare: number
      rttMs: number
    }>
    routedAway: number
    retriedUnknown: number
  }> {
    return (await (await fetch(`${edgeUrl}/edge/v1/status`)).json()) as never
  }

  function describeSamples(samples: readonly Sample[]): string {
    return JSON.stringify({
      served: servedBy(samples),
      errors: samples.filter((s) => s.error).slice(0, 3),
    })
  }

  it('sends every request to the nearest geo (b) when it is ready: 0 to a or c', async () => {
    await poll(
      'the edge to measure b nearest',
      async () => (await edgeStatus()).geos[0]?.name === 'b',
    )
    const before = (await edgeStatus()).routedAway
    // 2 workers: at most 2 requests in flight at b, half its limit of 4 (it is not overloaded).
    const load = startLoad(edgeUrl, 2, (worker, n) =>
      n % 2 === 0
        ? { path: `/v1/actors/counter/near-${worker}/increment`, method: 'POST', body: '{}' }
        : { path: `/v1/actors/counter/near-${worker}` },
    )
    await poll('200 requests', () => load.samples.length >= 200, 60_000)
    const samples = await load.stop()
    assert.deepEqual(servedBy(samples), { b: samples.length }, describeSamples(samples))
    assert.equal((await edgeStatus()).routedAway, before, 'no request routed away')
  })

  it('kill -9 b under load: within 2 s new requests go to a; keyed commands are not lost; b restarts and traffic returns', async () => {
    const b = cluster!.geo('b')
    let key = 0
    // 3 workers: at most 3 in flight at b, under its limit of 4.
    const load = startLoad(edgeUrl, 3, () => ({
      path: '/v1/actors/counter/failover/increment',
      method: 'POST',
      body: '{}',
      headers: { 'idempotency-key': `k-${key++}` },
    }))
    await poll(
      'load served by b',
      () => load.samples.filter((s) => s.geo === 'b').length >= 20,
      30_000,
    )
    const killedAt = Date.now()
    await b.kill('SIGKILL')
    await poll(
      '2.5 s of load after the kill',
      () => load.samples.some((s) => s.start > killedAt + 2_500),
      30_000,
    )
    const afterKill = load.samples.filter((s) => s.start > killedAt + 2_000)
    assert.ok(afterKill.length > 0)
    assert.deepEqual(servedBy(afterKill), { a: afterKill.length }, describeSamples(afterKill))
    const firstElsewhere = load.samples.find((s) => s.end > killedAt && s.geo === 'a')
    assert.ok(firstElsewhere, describeSamples(load.samples))
    assert.ok(
      firstElsewhere.end - killedAt < 2_000,
      `first request served by a ${firstElsewhere.end - killedAt} ms after the kill`,
    )
    // Every keyed command was answered 200: the edge retried those b held when it died.
    const failed = load.samples.filter((s) => s.status !== 200)
    assert.deepEqual(failed, [], describeSamples(failed))

    await b.restart()
    proxies.get('b')!.targetPort = Number(new URL(b.url).port)
    const restartedAt = Date.now()
    await poll(
      'traffic back on b',
      () => load.samples.some((s) => s.start > restartedAt && s.geo === 'b'),
      30_000,
    )
    const backAt = Date.now()
    await poll('1 s more of load', () => load.samples.some((s) => s.start > backAt + 1_000), 30_000)
    const samples = await load.stop()
    const settled = samples.filter((s) => s.start > backAt + 500)
    assert.deepEqual(servedBy(settled), { b: settled.length }, describeSamples(settled))
    // The edge's log says so: a line when b went down, another when it came back.
    const log = edgeProcess!.output()
    assert.match(log, /geo down.*\bb\b/, log)
    assert.match(log, /geo up again.*\bb\b/, log)

    // Every keyed increment is applied exactly once: a command b made durable before it died
    // and the edge retried on a ran twice, and the fold keeps one run of its key (the keys
    // travel with the events: docs/routing.md#idempotency-keys).
    await cluster!.waitReplicated(60_000)
    const acked = samples.filter((s) => s.status === 200).length
    const { retriedUnknown } = await edgeStatus()
    let values: number[] = []
    const holdAcked = async () => {
      values = await Promise.all(
        cluster!.geos.map(
          async (g) => (await g.state<{ value: number }>('counter', 'failover')).value,
        ),
      )
      return values.every((v) => v === acked)
    }
    await poll('every geo to hold exactly the acknowledged increments', holdAcked, 30_000).catch(
      () =>
        assert.deepEqual(
          values,
          values.map(() => acked),
          `counters per geo vs ${acked} acknowledged (${retriedUnknown} retried after an unknown outcome)`,
        ),
    )
  })

  it('b frozen (SIGSTOP, sockets open): probes time out and new requests go to a within 2 s; after SIGCONT traffic returns', async () => {
    const b = cluster!.geo('b')
    await poll(
      'b up at the edge',
      async () => (await edgeStatus()).geos[0]?.name === 'b' && (await edgeStatus()).geos[0]!.up,
      30_000,
    )
    const frozenAt = Date.now()
    b.signal('SIGSTOP')
    try {
      // Fresh requests (not the ones b held when it froze) from 2 s on: all served by a.
      await poll('2 s after the freeze', () => Date.now() > frozenAt + 2_000, 10_000, 50)
      const fresh = startLoad(edgeUrl, 2, (worker, n) => ({
        path: `/v1/actors/counter/frozen-${worker}-${n}`,
      }))
      await poll('40 fresh reads', () => fresh.samples.length >= 40, 30_000)
      const samples = await fresh.stop()
      assert.deepEqual(servedBy(samples), { a: samples.length }, describeSamples(samples))
    } finally {
      b.signal('SIGCONT')
    }
    await poll(
      'traffic back on b',
      async () => {
        const response = await fetch(`${edgeUrl}/v1/actors/counter/thawed`)
        return response.headers.get('anywhere-geo') === 'b'
      },
      30_000,
    )
  })

  it('b overloaded: a share moves to a, accepted requests stay fast, and the share falls back to 0 after', async () => {
    await poll(
      'b up and not overloaded',
      async () => {
        const b = (await edgeStatus()).geos.find((g) => g.name === 'b')
        return b?.up === true && !b.overloaded
      },
      30_000,
    )
    const before = (await edgeStatus()).routedAway
    const taps = await fetch(`${edgeUrl}/edge/v1/taps`, { signal: AbortSignal.timeout(120_000) })
    assert.equal(taps.headers.get('content-type'), 'text/event-stream')
    const tapReader = taps.body!.getReader()
    // 8 workers of 50 ms commands on their own actors: 8 in flight at b against its limit of 4.
    const load = startLoad(edgeUrl, 8, (worker) => ({
      path: `/v1/actors/slow/w-${worker}/wait`,
      method: 'POST',
      body: '{"ms":50}',
    }))
    await poll('a share served by a', () => load.samples.some((s) => s.geo === 'a'), 30_000)
    await poll(
      '3 s of load',
      () => load.samples.length > 0 && Date.now() - load.samples[0]!.start > 3_000,
      30_000,
    )
    const samples = await load.stop()
    const served = servedBy(samples)
    assert.ok((served.a ?? 0) > 0 && (served.b ?? 0) > 0, JSON.stringify(served))
    assert.equal(served.c ?? 0, 0, 'the share goes to the next nearest geo, a, not c')
    assert.ok(
      samples.every((s) => s.status === 200),
      describeSamples(samples),
    )
    const p99 = percentile(
      samples.map((s) => s.end - s.start),
      99,
    )
    assert.ok(p99 < 3_000, `p99 ${p99} ms`)
    assert.ok((await edgeStatus()).routedAway > before)
    let tapText = ''
    for (let i = 0; i < 100 && !tapText.includes('"reason":"overloaded"'); i++)
      tapText += new TextDecoder().decode((await tapReader.read()).value)
    assert.match(
      tapText,
      /event: request.routed\ndata: \{[^\n]*"from":"b","to":"a","reason":"overloaded"/,
    )
    await tapReader.cancel()

    // The load stopped, but b may have tripped on its last requests: it recovers
    // recoverAfterMs later. Its own /readyz says so first; the edge's view lags a probe
    // behind, and read alone it can take the gap between two trips for the recovery (then b
    // trips again as seen from the edge, and the first quiet reads are shed: a flake in CI).
    const bUrl = cluster!.geo('b').url
    await poll(
      'b itself ready again',
      async () => {
        const response = await fetch(`${bUrl}/readyz`, { signal: AbortSignal.timeout(5_000) })
        await response.arrayBuffer()
        return response.status === 200
      },
      30_000,
    )
    await poll(
      'the edge to see b up, recovered, and its share back to 0',
      async () => {
        const b = (await edgeStatus()).geos.find((g) => g.name === 'b')
        return b?.up === true && b.overloaded === false && b.shedShare === 0
      },
      30_000,
    )
    // Nothing loads b now: the edge sends it every request again.
    const quietTaps = await fetch(`${edgeUrl}/edge/v1/taps`, {
      signal: AbortSignal.timeout(60_000),
    })
    const quiet = startLoad(edgeUrl, 2, (worker) => ({ path: `/v1/actors/slow/w-${worker}` }))
    await poll('100 requests', () => quiet.samples.length >= 100, 30_000)
    const after = await quiet.stop()
    const routedWhileQuiet = await readAvailable(quietTaps)
    assert.deepEqual(
      servedBy(after),
      { b: after.length },
      `${describeSamples(after)}; edge taps meanwhile: ${routedWhileQuiet.slice(0, 2_000)}; edge: ${JSON.stringify(await edgeStatus())}`,
    )
  })
})

/** What an SSE response has delivered so far (waits at most 200 ms per read), then cancels it. */
async function readAvailable(response: Response): Promise<string> {
  const reader = response.body!.getReader()
  let text = ''
  for (let i = 0; i < 1_000; i++) {
    const next = await Promise.race([
      reader.read(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200)),
    ])
    if (!next || next.done) break
    text += new TextDecoder().decode(next.value)
  }
  await reader.cancel()
  return text
}
