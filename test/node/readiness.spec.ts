import assert from 'node:assert/strict'
import { z } from 'zod'
import {
  defineActor,
  silentLogger,
  simulatedClock,
  Taps,
  type TapEvent,
  type VersionVector,
} from '../../core/index.js'
import { createNode, type AnywhereNode } from '../../node/index.js'
import { NodeReadiness, OverloadDetector, overloadInitSchema } from '../../node/load/index.js'

/** Polls `probe` until it returns a value, or fails after `ms` saying what was last seen. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000) {
  const deadline = Date.now() + ms
  let last: unknown
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}; last error: ${String(last)}`)
}

describe('node: readiness and the overload detector', () => {
  it('trips after tripAfterSamples samples past a limit and recovers only after recoverAfterMs under recoverBelow', () => {
    const clock = simulatedClock()
    const taps = new Taps()
    const seen: TapEvent[] = []
    const subscription = taps.events$.subscribe((e) => seen.push(e))
    let inFlight = 0
    const lines: string[] = []
    const logger = {
      ...silentLogger(),
      info: (message: string, fields?: object) =>
        void lines.push(`info ${message} ${JSON.stringify(fields)}`),
      warn: (message: string, fields?: object) =>
        void lines.push(`warn ${message} ${JSON.stringify(fields)}`),
    }
    const detector = new OverloadDetector(
      overloadInitSchema.parse({ maxInFlight: 10, tripAfterSamples: 2, recoverAfterMs: 1_000 }),
      {
        clock,
        taps,
        geo: 'b',
        logger,
        sources: { inFlight: () => inFlight, mailboxBacklog: () => 0, storeAppendMs: () => 0 },
      },
    )
    inFlight = 12
    assert.equal(detector.sample().overloaded, false, 'one sample past the limit is not enough')
    const tripped = detector.sample()
    assert.equal(tripped.overloaded, true)
    assert.equal(tripped.trippedBy, 'inFlight')
    assert.equal(tripped.load, 1.2)
    assert.deepEqual(
      seen.map((e) => e.kind === 'geo.overloaded' && [e.signal, e.value, e.limit]),
      [['inFlight', 12, 10]],
    )
    // The node's log says so too, once, with every signal against its limit.
    assert.equal(lines.length, 1, lines.join('\n'))
    assert.match(lines[0]!, /^warn overloaded: .*"signal":"inFlight".*"inFlight":"12\/10"/)
    inFlight = 8 // under the limit but above recoverBelow (0.7): still overloaded
    clock.advance(5_000)
    assert.equal(detector.sample().overloaded, true, 'hysteresis: 0.8 of the limit is not calm')
    inFlight = 3
    assert.equal(detector.sample().overloaded, true, 'calm only just began')
    clock.advance(999)
    assert.equal(detector.sample().overloaded, true)
    clock.advance(1)
    const recovered = detector.sample()
    assert.equal(recovered.overloaded, false)
    const last = seen.at(-1)
    assert.ok(last?.kind === 'geo.recovered', `last tap: ${JSON.stringify(last)}`)
    assert.equal(last.signal, 'inFlight')
    assert.equal(last.overloadedMs, 6_000)
    assert.deepEqual(lines.slice(1), [
      'info no longer overloaded {"signal":"inFlight","overloadedMs":6000}',
    ])
    subscription.unsubscribe()
  })

  it('calls a store that does not answer within storeProbeTimeoutMs unavailable, and available once it answers', async () => {
    const clock = simulatedClock()
    let answer = false
    const lines: string[] = []
    const readiness = new NodeReadiness(
      { storeProbeMs: 1_000, storeProbeTimeoutMs: 500 },
      {
        clock,
        store: {
          versionVector: () =>
            answer ? Promise.resolve<VersionVector>({}) : new Promise<VersionVector>(() => {}),
        },
        load: () => ({
          load: 0,
          overloaded: false,
          shedShare: 0,
          signals: {
            eventLoopDelay: { value: 0, limit: 1 },
            inFlight: { value: 0, limit: 1 },
            mailboxBacklog: { value: 0, limit: 1 },
            storeAppend: { value: 0, limit: 1 },
          },
        }),
        logger: {
          ...silentLogger(),
          info: (message: string) => void lines.push(`info ${message}`),
          warn: (message: string) => void lines.push(`warn ${message}`),
        },
      },
    )
    assert.equal(readiness.state().reason, 'starting')
    readiness.enter('serving')
    assert.equal(readiness.state().ready, true)
    const probing = readiness.probeStore()
    clock.advance(500)
    assert.equal(await probing, false)
    assert.deepEqual(
      [readiness.state().ready, readiness.state().reason],
      [false, 'store-unavailable'],
    )
    assert.deepEqual(lines, ['warn the store failed its probe: not ready'])
    answer = true
    assert.equal(await readiness.probeStore(), true)
    assert.equal(readiness.state().ready, true)
    assert.equal(await readiness.probeStore(), true)
    assert.deepEqual(lines.slice(1), ['info the store answers its probe again'], 'once per change')
    readiness.enter('draining')
    assert.equal(readiness.state().reason, 'draining')
  })

  describe('GET /readyz of a real node', () => {
    let node: AnywhereNode | undefined
    const releases: Array<() => void> = []
    afterEach(async () => {
      for (const release of releases.splice(0)) release()
      await node?.stop()
      node = undefined
    })

    // A command that waits until the test releases it: requests stay in flight for real.
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

    it('answers 200 when ready, 503 overloaded with the tripping signal past maxInFlight, 200 again after', async () => {
      node = await createNode(
        {
          store: { kind: 'memory' },
          http: { port: 0 },
          log: { level: 'silent' },
          overload: { sampleMs: 20, maxInFlight: 2, tripAfterSamples: 2, recoverAfterMs: 100 },
        },
        { actors: [gate] },
      )
      const seen: TapEvent[] = []
      node.taps.of('geo.overloaded', 'geo.recovered').subscribe((e) => seen.push(e))
      await node.start()
      const base = node.gateway!.url
      const ready = await fetch(`${base}/readyz`)
      assert.equal(ready.status, 200)
      const readyBody = (await ready.json()) as { status: string; load: { load: number } }
      assert.equal(readyBody.status, 'ready')

      // Three commands on three actors, each held in its handler: 3 in flight against a limit of 2.
      const held = [1, 2, 3].map((i) =>
        fetch(`${base}/v1/actors/gate/g${i}/wait`, { method: 'POST', body: '{}' }),
      )
      const unready = await waitFor('readyz to say overloaded', async () => {
        const response = await fetch(`${base}/readyz`)
        return response.status === 503 ? response : undefined
      })
      const body = (await unready.json()) as {
        status: string
        reason: string
        load: { trippedBy: string; signals: { inFlight: { value: number; limit: number } } }
      }
      assert.equal(body.status, 'unready')
      assert.equal(body.reason, 'overloaded')
      assert.equal(body.load.trippedBy, 'inFlight')
      assert.deepEqual(body.load.signals.inFlight, { value: 3, limit: 2 })

      await waitFor('the three handlers to be waiting', async () =>
        releases.length === 3 ? true : undefined,
      )
      for (const release of releases.splice(0)) release()
      for (const response of await Promise.all(held)) assert.equal(response.status, 200)
      await waitFor('readyz to say ready again', async () =>
        (await fetch(`${base}/readyz`)).status === 200 ? true : undefined,
      )
      assert.deepEqual(
        seen.map((e) => `${e.kind}:${'signal' in e ? e.signal : ''}`),
        ['geo.overloaded:inFlight', 'geo.recovered:inFlight'],
      )
    })

    it('trips on event-loop delay when the loop is blocked', async () => {
      node = await createNode({
        store: { kind: 'memory' },
        http: { port: 0 },
        log: { level: 'silent' },
        overload: { sampleMs: 50, maxEventLoopDelayMs: 100, tripAfterSamples: 1 },
      })
      await node.start()
      const base = node.gateway!.url
      const tripped = await waitFor('an event-loop delay overload', async () => {
        const started = Date.now()
        while (Date.now() - started < 300) {
          // busy: the loop cannot run its timers (a handler burning CPU does the same)
        }
        await new Promise((resolve) => setTimeout(resolve, 60))
        const response = await fetch(`${base}/readyz`)
        const body = (await response.json()) as { reason?: string; load: { trippedBy?: string } }
        return response.status === 503 ? body : undefined
      })
      assert.equal(tripped.reason, 'overloaded')
      assert.equal(tripped.load.trippedBy, 'eventLoopDelay')
    })
  })
})
