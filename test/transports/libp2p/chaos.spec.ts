// A short seeded chaos run over three real geos (the long one is `npm run chaos`).
// CHAOS_SEED=<n> replays a schedule, CHAOS_STEPS=<n> sets its length.
import assert from 'node:assert/strict'
import { runChaos } from '../../support/chaos.js'
import { stopAllMultiGeos } from '../../support/multi-geo.js'
import { countFrom, seedFrom } from '../../support/seeded-random.js'

describe('fabric: seeded chaos over three geos', function () {
  const steps = countFrom(process.env.CHAOS_STEPS, 3)
  const seed = seedFrom(process.env.CHAOS_SEED)
  this.timeout(120_000 + steps * 15_000)

  afterEach(async () => {
    await stopAllMultiGeos()
  })

  it(`converges with every acknowledged write exactly once after ${steps} faults of seed ${seed} (CHAOS_SEED=${seed} replays)`, async () => {
    const lines: string[] = []
    const started = Date.now()
    const report = await runChaos({
      seed,
      steps,
      log: (text) => {
        const line = `${((Date.now() - started) / 1000).toFixed(1)} s ${text}`
        lines.push(line)
        if (process.env.CHAOS_VERBOSE) process.stdout.write(`      ${line}\n`)
      },
    })
    process.stdout.write(
      `      chaos seed ${seed}: ${report.acked} acknowledged, ${report.unknown} unknown, converged in ${report.convergeMs} ms\n`,
    )
    assert.ok(report.acked > 0, 'the clients got no write acknowledged at all')
    assert.deepEqual(
      report.violations,
      [],
      `seed ${seed} (replay with CHAOS_SEED=${seed} CHAOS_STEPS=${steps}); schedule:\n${lines.join('\n')}`,
    )
  })
})
