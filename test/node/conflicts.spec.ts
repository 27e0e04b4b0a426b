import assert from 'node:assert/strict'
import { firstValueFrom, take, toArray } from 'rxjs'
import { geoOfOrigin, silentLogger, type EventRecord, type TapOf } from '../../core/index.js'
import { createNode, type AnywhereNode } from '../../node/index.js'

describe('node: conflict taps and the history of an actor', function () {
  this.timeout(20_000)
  let node: AnywhereNode | undefined

  afterEach(async () => {
    await node?.stop()
    node = undefined
  })

  it('a late replicated event: the tap names the actor, the concurrent events and the states; /history lists the merge order with geos', async () => {
    node = await createNode(
      { geo: 'eu', store: { kind: 'memory' }, http: { port: 0 } },
      { logger: silentLogger() },
    )
    await node.start()
    const base = node.gateway!.url
    const post = (body: unknown) =>
      fetch(`${base}/v1/actors/register/motd/set`, { method: 'POST', body: JSON.stringify(body) })
    assert.equal((await post({ value: 'from eu' })).status, 200)
    const [local] = await node.runtime.history('register', 'motd')
    assert.ok(local)

    // A write from geo us, stamped before eu's: it sorts first, so eu re-folds.
    const late: EventRecord = {
      actorType: 'register',
      actorId: 'motd',
      origin: 'us-0a1b2c3d',
      seq: 1,
      hlc: { wall: local.hlc.wall - 1_000, logical: 0 },
      type: local.type,
      payload: { ...(local.payload as object), value: 'from us' },
    }
    const reordered = firstValueFrom(node.taps.of('event.reordered').pipe(take(1), toArray()))
    assert.equal((await node.runtime.ingest([late], { from: 'peer-us' })).length, 1)
    // The re-fold runs on the actor's next use.
    const state = (await (await fetch(`${base}/v1/actors/register/motd`)).json()) as unknown
    const [tap] = (await reordered) as [TapOf<'event.reordered'>]
    assert.deepEqual(tap.actor, { type: 'register', id: 'motd' })
    assert.equal(tap.event.origin, 'us-0a1b2c3d')
    assert.equal(tap.refolded, 2)
    assert.equal(tap.concurrentCount, 1)
    assert.deepEqual(tap.concurrent, [
      { origin: local.origin, seq: 1, hlc: local.hlc, type: local.type },
    ])
    // Last writer wins: eu's later write stays the value, now folded after us's.
    assert.deepEqual(tap.stateBefore, { value: 'from eu' })
    assert.deepEqual(tap.stateAfter, { value: 'from eu' })
    assert.deepEqual(state, { value: 'from eu' })

    const history = (await (await fetch(`${base}/v1/actors/register/motd/history`)).json()) as {
      total: number
      events: Array<{ origin: string; geo: string | null; seq: number; payload: unknown }>
    }
    assert.equal(history.total, 2)
    assert.deepEqual(
      history.events.map((e) => [e.geo, e.origin, e.seq]),
      [
        ['us', 'us-0a1b2c3d', 1],
        ['eu', node.nodeId, 1],
      ],
    )
    const limited = (await (
      await fetch(`${base}/v1/actors/register/motd/history?limit=1`)
    ).json()) as { total: number; events: Array<{ geo: string }> }
    assert.equal(limited.total, 2)
    assert.deepEqual(
      limited.events.map((e) => e.geo),
      ['eu'],
      'the latest events',
    )
  })

  it('reads the geo of an origin: a log id, with or without the PeerId of a signed origin', () => {
    assert.equal(geoOfOrigin('eu-1a2b3c4d'), 'eu')
    assert.equal(geoOfOrigin('eu-west-mem-1a2b3c4d'), 'eu-west')
    assert.equal(
      geoOfOrigin('us-1a2b3c4d.12D3KooWQGQ4k9Yk77N7UEcmZC555dwHjgSMPoCfgs7mBkkuwHNA'),
      'us',
    )
    assert.equal(geoOfOrigin('not an origin'), undefined)
    assert.equal(geoOfOrigin('eu-1a2b3c4d.0OIl'), undefined, 'not base58')
  })

  it('refuses a bad limit and an unknown actor type with JSON 4xx', async () => {
    node = await createNode(
      { geo: 'eu', store: { kind: 'memory' }, http: { port: 0 } },
      { logger: silentLogger() },
    )
    await node.start()
    const base = node.gateway!.url
    for (const limit of ['0', '-1', 'abc', '100000', '1.5']) {
      const reply = await fetch(`${base}/v1/actors/counter/c/history?limit=${limit}`)
      assert.equal(reply.status, 400, limit)
      assert.equal(((await reply.json()) as { error: string }).error, 'ValidationError')
    }
    const unknown = await fetch(`${base}/v1/actors/nope/c/history`)
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { error: string }).error, 'UnknownActorTypeError')
    const empty = (await (await fetch(`${base}/v1/actors/counter/never/history`)).json()) as {
      total: number
    }
    assert.equal(empty.total, 0)
  })
})
