import assert from 'node:assert/strict'
import {
  ActorRuntime,
  HybridLogicalClock,
  MAX_HLC_LOGICAL,
  silentLogger,
  simulatedClock,
  Taps,
  type EventRecord,
  type Hlc,
  type SimulatedClock,
} from '../../../core/index.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'
import { journal } from '../../support/journal.js'

const START = 1_700_000_000_000
const SKEW = 60_000

function remote(origin: string, seq: number, hlc: Hlc, actorId = 'shared'): EventRecord {
  return {
    actorType: 'journal',
    actorId,
    origin,
    seq,
    hlc,
    type: 'written',
    payload: { line: `${origin}:${seq}` },
  }
}

describe('ActorRuntime.ingest and the clock', () => {
  let clock: SimulatedClock
  let hlc: HybridLogicalClock
  let store: MemoryEventStore
  let runtime: ActorRuntime

  beforeEach(async () => {
    clock = simulatedClock(START)
    hlc = new HybridLogicalClock(clock, { maxSkewMs: SKEW })
    store = new MemoryEventStore()
    await store.start()
    runtime = new ActorRuntime(
      { actors: [journal] },
      { store, clock, hlc, taps: new Taps(), logger: silentLogger(), origin: 'local' },
    )
    await runtime.start()
  })

  afterEach(async () => {
    await runtime.stop()
    await store.stop()
  })

  it('a gapped event (not stored) does not move the clock', async () => {
    const before = hlc.now()
    const accepted = await runtime.ingest([remote('x', 2, { wall: START + 30_000, logical: 9 })])
    assert.deepEqual(accepted, [])
    assert.deepEqual(hlc.peek(), before)
    assert.equal((await store.versionVector()).x ?? 0, 0)
  })

  it('a duplicate with another stamp (not stored again) does not move the clock', async () => {
    await runtime.ingest([remote('x', 1, { wall: START, logical: 0 })])
    const before = hlc.now()
    const accepted = await runtime.ingest([remote('x', 1, { wall: START + 30_000, logical: 5 })])
    assert.deepEqual(accepted, [])
    assert.deepEqual(hlc.peek(), before)
  })

  it('an event beyond the skew bound is not stored and does not move the clock; later seqs wait', async () => {
    const before = hlc.now()
    const attack = remote('x', 1, { wall: START + 23 * 3_600_000, logical: MAX_HLC_LOGICAL })
    const accepted = await runtime.ingest([attack, remote('x', 2, { wall: START, logical: 0 })])
    assert.deepEqual(accepted, [])
    assert.deepEqual(hlc.peek(), before)
    assert.equal((await store.versionVector()).x ?? 0, 0)
    assert.equal(runtime.acceptsStamp(attack.hlc), false)
    // The next local write is stamped from the real clock and stays framable.
    await runtime.actor(journal, 'mine').ask('write', { line: 'after' })
    const [mine] = await store.readOrigin('local', 1, 1)
    assert.ok(mine!.hlc.wall < START + SKEW && mine!.hlc.logical < MAX_HLC_LOGICAL)
  })

  it('a stored event moves the clock past its stamp', async () => {
    const stamp = { wall: START + 50_000, logical: 4 }
    const accepted = await runtime.ingest([remote('x', 1, stamp)])
    assert.equal(accepted.length, 1)
    assert.deepEqual(hlc.peek(), stamp)
    assert.deepEqual(hlc.now(), { wall: START + 50_000, logical: 5 })
  })

  it('an event held back for being too far ahead is stored once the clock catches up', async () => {
    const far = remote('x', 1, { wall: START + 2 * 60_000, logical: 0 })
    assert.deepEqual(await runtime.ingest([far]), [])
    clock.advance(60_000)
    assert.equal(runtime.acceptsStamp(far.hlc), true)
    assert.equal((await runtime.ingest([far])).length, 1)
    assert.deepEqual(hlc.peek(), far.hlc)
  })
})
