import assert from 'node:assert/strict'
import { firstValueFrom, take, toArray } from 'rxjs'
import { Taps } from '../../core/index.js'

describe('Taps', () => {
  it('wants(kind) is true only for kinds someone listens to, or for every kind with an events$ subscriber', () => {
    const taps = new Taps()
    assert.equal(taps.wants('event.appended'), false)
    const appended = taps.of('event.appended').subscribe()
    assert.equal(taps.wants('event.appended'), true)
    assert.equal(
      taps.wants('message.received'),
      false,
      'a subscriber to one kind does not make others wanted',
    )
    const all = taps.events$.subscribe()
    assert.equal(taps.wants('message.received'), true)
    all.unsubscribe()
    appended.unsubscribe()
    assert.equal(taps.wants('event.appended'), false)
    assert.equal(taps.observed, false)
  })

  it('filters by kind and by actor', async () => {
    const taps = new Taps()
    const kinds = firstValueFrom(
      taps.of('actor.evicted', 'actor.rehydrated').pipe(take(2), toArray()),
    )
    const mine = firstValueFrom(taps.forActor('counter', 'a').pipe(take(2), toArray()))
    const actor = (id: string) => ({ type: 'counter', id })
    taps.publish({ kind: 'message.received', at: 1, actor: actor('b'), command: 'increment' })
    taps.publish({ kind: 'actor.evicted', at: 2, actor: actor('a'), reason: 'idle' })
    taps.publish({
      kind: 'event.appended',
      at: 3,
      events: [
        {
          actorType: 'counter',
          actorId: 'a',
          origin: 'o',
          seq: 1,
          hlc: { wall: 1, logical: 0 },
          type: 'incremented',
          payload: { by: 1 },
        },
      ],
    })
    taps.publish({
      kind: 'actor.rehydrated',
      at: 4,
      actor: actor('b'),
      events: 0,
      fromSnapshot: false,
    })
    assert.deepEqual(
      (await kinds).map((e) => e.at),
      [2, 4],
    )
    assert.deepEqual(
      (await mine).map((e) => e.at),
      [2, 3],
    )
  })
})
