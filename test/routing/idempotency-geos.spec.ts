// Idempotency keys that follow a request across geos and restarts: real node processes on
// the file store, a partition through the fabric's proxies, kill -9.
import assert from 'node:assert/strict'
import {
  poll,
  printGeoOutputs,
  startMultiGeo,
  stopAllMultiGeos,
  type Geo,
  type MultiGeo,
} from '../support/multi-geo.js'

/** `POST` a keyed increment; returns the status, the replayed header and the body. */
async function keyedIncrement(geo: Geo, id: string, key: string, by: number) {
  const response = await fetch(`${geo.url}/v1/actors/counter/${id}/increment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ by }),
  })
  return {
    status: response.status,
    replayed: response.headers.get('idempotent-replayed') === 'true',
    body: (await response.json()) as unknown,
  }
}

describe('idempotency keys across geos and restarts (real processes, file store)', function () {
  this.timeout(120_000)
  let cluster: MultiGeo | undefined

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') printGeoOutputs(cluster)
    await stopAllMultiGeos()
    cluster = undefined
  })

  it('the same key sent to two geos during a partition yields one effect after the heal, and survives kill -9', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b'], store: 'file' })
    const [a, b] = cluster.geos as [Geo, Geo]
    cluster.partition(['a'], ['b'])
    // An edge that lost a's answer retries on b: both geos run the key once each.
    const onA = await keyedIncrement(a, 'shared', 'order-7', 5)
    const onB = await keyedIncrement(b, 'shared', 'order-7', 5)
    assert.deepEqual([onA.status, onA.replayed], [200, false])
    assert.deepEqual([onB.status, onB.replayed], [200, false])
    await b.command('counter', 'shared', 'increment', { by: 1 })
    cluster.heal()
    await cluster.waitReplicated(30_000)
    let states: unknown[] = []
    await poll(
      `both geos to show one effect of the key (saw ${JSON.stringify(states)})`,
      async () => {
        states = await Promise.all([a.state('counter', 'shared'), b.state('counter', 'shared')])
        return states.every((s) => JSON.stringify(s) === '{"value":6}')
      },
    )
    // Either geo now answers the key from the record; the handler does not run again.
    const retryA = await keyedIncrement(a, 'shared', 'order-7', 5)
    const retryB = await keyedIncrement(b, 'shared', 'order-7', 5)
    assert.ok(retryA.replayed && retryB.replayed, 'both geos replay the key')
    assert.deepEqual(retryA.body, retryB.body)

    // kill -9 right after an acknowledged keyed write: the restarted geo replays it.
    const acked = await keyedIncrement(a, 'crash', 'pay-1', 3)
    assert.deepEqual([acked.status, acked.body], [200, { value: 3 }])
    await a.kill('SIGKILL')
    await a.restart()
    const afterCrash = await keyedIncrement(a, 'crash', 'pay-1', 3)
    assert.deepEqual(afterCrash, { status: 200, replayed: true, body: { value: 3 } })
    assert.deepEqual(await a.state('counter', 'crash'), { value: 3 })
    // The same key with another body names another operation.
    const reused = await keyedIncrement(a, 'crash', 'pay-1', 4)
    assert.equal(reused.status, 422)
  })
})
