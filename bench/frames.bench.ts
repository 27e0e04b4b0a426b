// The frame decoding benchmark: node --expose-gc --import tsx bench/frames.bench.ts
//
// 1. Hostile frames (4 MiB each): how long decodeFrame takes to refuse each, the heap and RSS
//    it grows, and the longest event-loop stall seen meanwhile (perf_hooks histogram).
// 2. Valid frames: decodes per second of a 256-event frame (the sender's default batch) and of
//    a ping, median of 5 runs: what the pre-decode scan costs an honest peer.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { EventRecord } from '../core/event.js'
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES } from '../transports/libp2p/frames.js'
import {
  deeplyNested,
  eventsOfArrays,
  eventsOfJunk,
  eventWithHugePayload,
  hugeHello,
} from '../test/transports/libp2p/hostile-frames.js'

const RUNS = 5
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function refusal(build: () => Uint8Array, runs: number) {
  const body = build()
  const times: number[] = []
  let heapMb = 0
  let rssMb = 0
  let accepted = 0
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  let stallMs = 0
  for (let i = 0; i < runs; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 5))
    loop.reset() // the stall of gc() above is not the frame's
    const before = process.memoryUsage()
    const start = performance.now()
    let refused = false
    try {
      decodeFrame(body)
    } catch {
      refused = true
    }
    times.push(performance.now() - start)
    const after = process.memoryUsage()
    heapMb = Math.max(heapMb, (after.heapUsed - before.heapUsed) / 2 ** 20)
    rssMb = Math.max(rssMb, (after.rss - before.rss) / 2 ** 20)
    if (!refused) accepted++
    await new Promise((resolve) => setTimeout(resolve, 5))
    stallMs = Math.max(stallMs, loop.max / 1e6)
  }
  loop.disable()
  return {
    ms: median(times),
    max: Math.max(...times),
    heapMb,
    rssMb,
    stallMs,
    outcome: accepted > 0 ? `accepted ${accepted}/${runs}` : 'refused',
  }
}

function decodesPerSecond(body: Uint8Array): number {
  const rates: number[] = []
  for (let run = 0; run < RUNS; run++) {
    let count = 0
    const start = performance.now()
    while (performance.now() - start < 500) {
      for (let i = 0; i < 20; i++) decodeFrame(body)
      count += 20
    }
    rates.push(count / ((performance.now() - start) / 1000))
  }
  return median(rates)
}

const event = (seq: number): EventRecord => ({
  actorType: 'counter',
  actorId: `actor-${seq % 100}`,
  origin: 'geo-a-1234abcd',
  seq,
  hlc: { wall: 1_760_000_000_000 + seq, logical: seq % 3 },
  type: 'incremented',
  payload: { by: 1, note: 'a short note' },
})

async function main(): Promise<void> {
  const hostile: Array<[string, () => Uint8Array]> = [
    ['hello with 690k vector entries', () => hugeHello()],
    ['events frame declaring 4M events', () => eventsOfJunk(4_000_000)],
    ['1024 int arrays as events', () => eventsOfArrays()],
    ['payload declaring 4M elements', () => eventWithHugePayload()],
    ['4 MiB of nesting', () => deeplyNested()],
  ]
  const lines = [
    '## Frame decoding',
    '',
    `Node ${process.version}; every hostile frame is about 4 MiB (MAX_FRAME_BYTES).`,
    '',
    '| hostile frame | outcome | decode time (median) | max | heap grown | RSS grown | longest loop stall |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const [name, build] of hostile) {
    process.stderr.write(`hostile: ${name}\n`)
    const r = await refusal(build, Number(process.env.HOSTILE_RUNS ?? RUNS))
    lines.push(
      `| ${name} | ${r.outcome} | ${r.ms.toFixed(2)} ms | ${r.max.toFixed(2)} ms | ${r.heapMb.toFixed(1)} MB | ${r.rssMb.toFixed(1)} MB | ${r.stallMs.toFixed(1)} ms |`,
    )
  }
  const events = encodeFrame({
    t: 'events',
    n: 1,
    events: Array.from({ length: 256 }, (_, i) => event(i + 1)),
  }).subarray(FRAME_HEADER_BYTES)
  const ping = encodeFrame({ t: 'ping', at: 1_760_000_000_000 }).subarray(FRAME_HEADER_BYTES)
  lines.push('', '| valid frame | decodes/s (median of 5) |', '| --- | --- |')
  lines.push(
    `| events, 256 events (${events.byteLength} bytes) | ${decodesPerSecond(events).toFixed(0)} |`,
  )
  lines.push(`| ping | ${decodesPerSecond(ping).toFixed(0)} |`)
  process.stdout.write(lines.join('\n') + '\n')
}

await main()
