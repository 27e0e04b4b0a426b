import assert from 'node:assert/strict'
import { compareHlc } from '../../core/index.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MAX_HLC_LOGICAL, systemClock, type Clock } from '../../core/index.js'
import { createNode, type AnywhereNode } from '../../node/node.js'

const DAY_MS = 24 * 60 * 60 * 1000

/** A wall clock `offsetMs` away from the real one (a node whose clock was set wrong). */
function offsetClock(offsetMs: number): Clock {
  const real = systemClock()
  return { now: () => real.now() + offsetMs, setTimer: (ms, fn) => real.setTimer(ms, fn) }
}

describe('node: the clock after a restart', () => {
  let dir: string
  const started: AnywhereNode[] = []

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-own-clock-'))
  })

  afterEach(async () => {
    await Promise.allSettled(started.splice(0).map((n) => n.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  async function start(clock?: Clock, maxClockSkewMs?: number): Promise<AnywhereNode> {
    const node = await createNode(
      {
        dataDir: dir,
        http: { port: 0 },
        log: { level: 'silent' },
        ...(maxClockSkewMs ? { runtime: { maxClockSkewMs } } : {}),
      },
      clock ? { clock } : {},
    )
    started.push(node)
    await node.start()
    return node
  }

  it('keeps its own events in seq order after a poisoned clock, with stamps that stay valid, and says so', async () => {
    // What an older version left behind: its clock was pushed ~23 h ahead.
    const poisoned = await start(offsetClock(23 * 60 * 60 * 1000))
    await poisoned.runtime.ask('counter', 'c', 'increment', {})
    const [old] = await poisoned.store.readOrigin(poisoned.nodeId, 1, 1)
    await poisoned.stop()

    const healed = await start()
    assert.equal(healed.nodeId, poisoned.nodeId)
    await healed.runtime.ask('counter', 'c', 'increment', {})
    const [next] = await healed.store.readOrigin(healed.nodeId, 2, 1)
    assert.ok(old!.hlc.wall > Date.now() + DAY_MS / 2)
    assert.equal(next!.seq, 2, 'per-origin seqs continue')
    assert.ok(
      compareHlc(next!.hlc, old!.hlc) > 0,
      'seq 2 sorts after seq 1: per-origin order holds',
    )
    assert.ok(next!.hlc.logical < MAX_HLC_LOGICAL, 'the counter never overflows')
    assert.deepEqual((await healed.runtime.read('counter', 'c')).state, { value: 2 })
  })

  it('recovers a clock poisoned by a version without signed origins: on upgrade it writes under a new origin, stamped by its real clock', async () => {
    // An older version wrote under its bare log id (no PeerId) with a clock pushed 23 h ahead.
    const poisoned = await start(offsetClock(23 * 60 * 60 * 1000))
    await poisoned.runtime.ask('counter', 'c', 'increment', {})
    const legacyOrigin = poisoned.nodeId
    await poisoned.stop()
    // This version with a fabric signs: its origin names its key, a log of its own.
    const upgraded = await createNode({
      dataDir: dir,
      http: { port: 0 },
      log: { level: 'silent' },
      fabric: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    })
    started.push(upgraded)
    await upgraded.start()
    assert.equal(upgraded.nodeId, `${legacyOrigin}.${upgraded.fabric!.status().peerId}`)
    await upgraded.runtime.ask('counter', 'd', 'increment', {})
    const [mine] = await upgraded.store.readOrigin(upgraded.nodeId, 1, 1)
    assert.ok(
      mine!.hlc.wall <= Date.now() + 1_000,
      `stamped by the real clock: ${JSON.stringify(mine)}`,
    )
    assert.ok(mine!.hlc.logical < MAX_HLC_LOGICAL)
    // What the older version wrote is still here, under its own origin.
    assert.equal((await upgraded.store.versionVector())[legacyOrigin], 1)
  })

  it('still moves past its own stamps within the bound (a wall clock that went back a little)', async () => {
    const ahead = await start(offsetClock(20_000))
    await ahead.runtime.ask('counter', 'c', 'increment', {})
    const [first] = await ahead.store.readOrigin(ahead.nodeId, 1, 1)
    await ahead.stop()
    const behind = await start(undefined, 60_000)
    await behind.runtime.ask('counter', 'c', 'increment', {})
    const [second] = await behind.store.readOrigin(behind.nodeId, 2, 1)
    assert.ok(second!.hlc.wall >= first!.hlc.wall, `${JSON.stringify([first, second])}`)
  })
})
