// The per-actor fence of a geo of several nodes, on a real Redis: an append carrying an epoch
// older than the actor's is refused whole, and refusing it fails no other append of its batch.
import assert from 'node:assert/strict'
import {
  FencedError,
  HybridLogicalClock,
  systemClock,
  type ActorFencing,
  type EventDraft,
  type EventStore,
  type TapEvent,
} from '../../../core/index.js'
import { requireRedis, testRedis, uniquePrefix } from '../../support/redis-server.js'
import { deleteKeys, openRedisStore, storeComponents } from './helpers.js'

type FencedStore = EventStore & ActorFencing

describe('redis store: per-actor fencing', function () {
  let redis: { url: string; stop(): Promise<void> } | undefined
  let prefix = ''
  const stores: EventStore[] = []
  const hlc = new HybridLogicalClock(systemClock())

  before(requireRedis)
  before(async () => {
    redis = await testRedis()
  })
  after(async () => {
    await redis?.stop()
  })
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.stop()))
    await deleteKeys(redis!.url, prefix)
  })

  async function node(id: string, components = storeComponents(id)): Promise<FencedStore> {
    const store = (await openRedisStore({ url: redis!.url, prefix }, components)) as FencedStore
    stores.push(store)
    return store
  }

  function draft(origin: string, actorId = 'x'): EventDraft {
    return {
      actorType: 'counter',
      actorId,
      origin,
      hlc: hlc.now(),
      type: 'incremented',
      payload: { by: 1 },
    }
  }

  it('refuses the appends of a node whose claim another node has superseded, and stores nothing of them', async () => {
    prefix = uniquePrefix('fence')
    const components = storeComponents('a')
    const taps: TapEvent[] = []
    components.taps.events$.subscribe((event) => taps.push(event))
    const a = await node('a', components)
    const b = await node('b')
    const epochA = await a.claimActor('counter', 'x')
    await a.append([draft('a')], { fence: epochA })
    const epochB = await b.claimActor('counter', 'x')
    assert.ok(epochB > epochA, `a later claim has a higher epoch (${epochA} then ${epochB})`)
    await assert.rejects(a.append([draft('a'), draft('a')], { fence: epochA }), FencedError)
    await b.append([draft('b')], { fence: epochB })
    assert.deepEqual(
      taps.filter((t) => t.kind === 'actor.fenced').map((t) => 'actor' in t && t.actor),
      [{ type: 'counter', id: 'x' }],
      'the refusal is on the taps',
    )
    const events = await b.readActor('counter', 'x')
    assert.deepEqual(
      events.map((e) => `${e.origin}:${e.seq}`),
      ['a:1', 'b:1'],
      'the fenced append stored nothing and took no seq',
    )
    assert.deepEqual(await b.versionVector(), { a: 1, b: 1 })
  })

  it('fails only the fenced append of a batch: the others of the same script call are stored', async () => {
    prefix = uniquePrefix('fence-batch')
    const a = await node('a')
    const b = await node('b')
    const stale = await a.claimActor('counter', 'x')
    await b.claimActor('counter', 'x')
    const own = await a.claimActor('counter', 'y')
    // Same event-loop turn: one batch, one script call.
    const outcomes = await Promise.allSettled([
      a.append([draft('a', 'y')], { fence: own }),
      a.append([draft('a', 'x')], { fence: stale }),
      a.append([draft('a', 'y')], { fence: own }),
      a.append([draft('a', 'z')]),
    ])
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? 'stored' : (o.reason as Error).name)),
      ['stored', 'FencedError', 'stored', 'stored'],
    )
    assert.equal((await a.readActor('counter', 'x')).length, 0)
    assert.equal((await a.readActor('counter', 'y')).length, 2)
  })
})
