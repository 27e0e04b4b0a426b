import assert from 'node:assert/strict'
import {
  poll,
  printGeoOutputs,
  startMultiGeo,
  stopAllMultiGeos,
  type Geo,
  type MultiGeo,
} from '../support/multi-geo.js'

/** The value of one series in a Prometheus text exposition (labels matched as a subset). */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    )
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3])
  }
  return undefined
}

const scrape = async (geo: Geo) => (await fetch(`${geo.url}/metrics`)).text()

describe('node: fabric metrics per peer geo, two real geos behind proxies', function () {
  this.timeout(120_000)
  let cluster: MultiGeo | undefined

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') printGeoOutputs(cluster)
    await stopAllMultiGeos()
    cluster = undefined
  })

  it('shows the link, the traffic, a lost link, the lag, the reconnect, the heal and the re-fold', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b'] })
    const [a, b] = cluster.geos as [Geo, Geo]
    const peerB = { peer_geo: 'b', geo: 'a' }
    await poll(
      'a scrapes b as connected',
      async () => sample(await scrape(a), 'anywhere_fabric_peer_connected', peerB) === 1,
    )

    for (let i = 0; i < 5; i++) await a.command('counter', 'shared', 'increment', { by: 1 })
    await cluster.waitReplicated()
    await poll('a counts 5 events sent to b', async () => {
      const text = await scrape(a)
      return sample(text, 'anywhere_fabric_events_sent_total', peerB) === 5
    })
    let text = await scrape(a)
    assert.ok((sample(text, 'anywhere_fabric_bytes_sent_total', peerB) ?? 0) > 0, 'bytes sent')
    assert.equal(sample(text, 'anywhere_fabric_peer_lag_events', peerB), 0)
    const inB = await scrape(b)
    assert.equal(sample(inB, 'anywhere_fabric_events_received_total', { peer_geo: 'a' }), 5)
    assert.ok((sample(inB, 'anywhere_fabric_bytes_received_total', { peer_geo: 'a' }) ?? 0) > 0)
    assert.equal(sample(inB, 'anywhere_store_ingested_events_total'), 5)

    cluster.link('a', 'b').cut()
    await poll(
      'a sees b down',
      async () => sample(await scrape(a), 'anywhere_fabric_peer_connected', peerB) === 0,
    )
    // A write on each side while cut: b's sorts before a's later one in one of the geos.
    await b.command('counter', 'shared', 'increment', { by: 10 })
    await a.command('counter', 'shared', 'increment', { by: 100 })
    await poll(
      'a lags by one event to b',
      async () => sample(await scrape(a), 'anywhere_fabric_peer_lag_events', peerB) === 1,
    )

    cluster.link('a', 'b').restore()
    await poll('a sees b back and caught up', async () => {
      const t = await scrape(a)
      return (
        sample(t, 'anywhere_fabric_peer_connected', peerB) === 1 &&
        sample(t, 'anywhere_fabric_peer_lag_events', peerB) === 0 &&
        sample(t, 'anywhere_fabric_partition_convergence_seconds_count', peerB) === 1
      )
    })
    await cluster.waitReplicated()
    // Reading the state folds the late event in (a re-fold happens on the actor's next use).
    assert.deepEqual(await a.state('counter', 'shared'), await b.state('counter', 'shared'))
    text = await scrape(a)
    assert.equal(sample(text, 'anywhere_fabric_reconnects_total', peerB), 1)
    // The concurrent writes made at least one geo re-fold (the one whose own event sorts later).
    const refolds =
      (sample(text, 'anywhere_runtime_refolds_total') ?? 0) +
      (sample(await scrape(b), 'anywhere_runtime_refolds_total') ?? 0)
    assert.ok(refolds >= 1, `re-folds in a and b: ${refolds}`)
  })
})
