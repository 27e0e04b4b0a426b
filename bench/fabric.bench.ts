// The fabric benchmark: node --import tsx bench/fabric.bench.ts
//
// 1. Replication throughput A -> B over the fabric (libp2p, Noise, yamux) against a raw TCP
//    floor that moves the same frames (msgpack, length prefix, zod validation, ingest) in the
//    same run, interleaved.
// 2. Replication lag p50/p99 at a fixed write rate of 1,000 events/s.
// 3. Time to converge after a partition with 10,000 and 100,000 events written on each side.
import '../transports/libp2p/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { defineActor } from '../core/actor.js'
import { systemClock } from '../core/clock.js'
import type { EventDraft, EventRecord } from '../core/event.js'
import type { Fabric } from '../core/fabric.js'
import { HybridLogicalClock } from '../core/hlc.js'
import { silentLogger } from '../core/logger.js'
import { MemoryEventStore } from '../stores/memory/memory-store.js'
import { ActorRuntime } from '../core/runtime/index.js'
import { Taps } from '../core/taps.js'
import { countMissing, type VersionVector } from '../core/version-vector.js'
import { decodeFrame, encodeFrame, FrameDecoder } from '../transports/libp2p/frames.js'
import {
  libp2pFabric,
  LIBP2P_FABRIC_DEFAULTS,
  loadOrCreateIdentity,
  type Libp2pFabricInit,
} from '../transports/libp2p/index.js'
import { EventVerifier, OwnEventSigner } from '../transports/libp2p/event-signing.js'
import { startTcpProxy } from '../test/support/tcp-proxy.js'

const THROUGHPUT_EVENTS = 50_000
const THROUGHPUT_RUNS = Number(process.env.BENCH_RUNS ?? 5)
const SIGNING_PAIRS = Number(process.env.BENCH_SIGNING_PAIRS ?? 8)
const LAG_RATE_PER_S = 1_000
const LAG_SECONDS = 3
const LAG_RUNS = Number(process.env.BENCH_RUNS ?? 5)
/** Which parts run (BENCH_FABRIC_PARTS=throughput,lag,converge; default all). */
const PARTS = new Set((process.env.BENCH_FABRIC_PARTS ?? 'throughput,lag,converge').split(','))
const CONVERGE_CASES = [
  { perSide: 10_000, runs: 5 },
  { perSide: 100_000, runs: 3 },
] as const
/** Which convergence cases run (BENCH_CONVERGE_PER_SIDE=10000; default both). */
const CONVERGE_PER_SIDE = process.env.BENCH_CONVERGE_PER_SIDE?.split(',').map(Number)

const tally = defineActor({
  type: 'tally',
  initialState: { value: 0 },
  events: { added: z.object({ by: z.number().int() }) },
  apply: (state, event) => ({ value: state.value + event.payload.by }),
  commands: (command) => ({
    add: command(z.object({ by: z.number().int() }), (ctx, input) => {
      ctx.emit('added', { by: input.by })
      return ctx.state
    }),
  }),
})

interface Geo {
  name: string
  nodeId: string
  peerId: string
  dataDir: string
  store: MemoryEventStore
  runtime: ActorRuntime
  taps: Taps
  fabric?: Fabric
  stop(): Promise<void>
}

const dirs: string[] = []

async function identity(name: string): Promise<{ dataDir: string; peerId: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), `anywhere-bench-${name}-`))
  dirs.push(dataDir)
  return { dataDir, peerId: (await loadOrCreateIdentity(join(dataDir, 'peer-key'))).peerId }
}

async function startGeo(
  name: string,
  id: { dataDir: string; peerId: string },
  fabricInit?: Libp2pFabricInit,
  prefill = 0,
): Promise<Geo> {
  const clock = systemClock()
  const taps = new Taps()
  const logger = silentLogger()
  const store = new MemoryEventStore()
  const nodeId = `node-${name}.${id.peerId}`
  const runtime = new ActorRuntime(
    { actors: [tally] },
    { store, clock, hlc: new HybridLogicalClock(clock), taps, logger, origin: nodeId },
  )
  await store.start()
  // Straight into the store, before the fabric starts (it reads the store's vector at start).
  if (prefill > 0) await fill(store, nodeId, prefill)
  await runtime.start()
  const fabric = fabricInit
    ? libp2pFabric(fabricInit)({
        appName: 'bench',
        geo: name,
        nodeId,
        dataDir: id.dataDir,
        log: store,
        ingest: runtime,
        feed: runtime.feed,
        taps,
        logger,
        clock,
      })
    : undefined
  await fabric?.start()
  return {
    name,
    nodeId,
    peerId: id.peerId,
    dataDir: id.dataDir,
    store,
    runtime,
    taps,
    ...(fabric ? { fabric } : {}),
    async stop() {
      await fabric?.stop()
      await runtime.stop()
      await store.stop()
    },
  }
}

/** Appends `count` events of origin `origin` straight into a store (fast setup). */
async function fill(store: MemoryEventStore, origin: string, count: number): Promise<void> {
  const hlc = new HybridLogicalClock(systemClock())
  for (let done = 0; done < count; done += 1_000) {
    const drafts: EventDraft[] = []
    for (let i = done; i < Math.min(count, done + 1_000); i++)
      drafts.push({
        actorType: 'tally',
        actorId: `t${i % 1_000}`,
        origin,
        hlc: hlc.now(),
        type: 'added',
        payload: { by: 1, note: 'x'.repeat(64) },
      })
    await store.append(drafts)
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

async function holds(store: MemoryEventStore, vector: VersionVector): Promise<boolean> {
  return countMissing(vector, await store.versionVector()) === 0
}

const fast: Partial<Libp2pFabricInit> = { backoffBaseMs: 20, backoffMaxMs: 200 }

/** Fabric throughput: B connects to a filled A and catches up; events/s from connect to done. */
async function fabricThroughput(): Promise<number> {
  const ia = await identity('a')
  const ib = await identity('b')
  const a = await startGeo(
    'a',
    ia,
    { listen: ['/ip4/127.0.0.1/tcp/0'], peers: [{ peerId: ib.peerId, addrs: [] }], ...fast },
    THROUGHPUT_EVENTS,
  )
  const target = await a.store.versionVector()
  const started = performance.now()
  const b = await startGeo('b', ib, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: ia.peerId, addrs: [a.fabric!.listenAddresses()[0]!] }],
    ...fast,
  })
  await until('b caught up', () => holds(b.store, target), 120_000)
  const elapsed = performance.now() - started
  await b.stop()
  await a.stop()
  return THROUGHPUT_EVENTS / (elapsed / 1_000)
}

/**
 * The raw TCP floor: the same frames (batches of `eventsPerFrame`, msgpack, length prefix),
 * the same incremental decoder and zod validation and, with `ingest`, the same ingest into
 * a runtime, pipelined (decode while the previous batch is ingested), over a plain socket
 * with Node's own backpressure (`write()` false, then `drain`). No handshake, no acks, no
 * encryption, no multiplexing. With `signed`, the sender signs each frame's events as the
 * fabric does and the receiver verifies them before ingest: what signing costs replication.
 */
async function rawThroughput(ingest: boolean, signed = false): Promise<number> {
  const source = new MemoryEventStore()
  await source.start()
  const key = await identity('raw')
  const { privateKey } = await loadOrCreateIdentity(join(key.dataDir, 'peer-key'))
  const signer = new OwnEventSigner(privateKey)
  const verifier = new EventVerifier((peerId) => peerId === key.peerId)
  const origin = `node-a.${key.peerId}`
  await fill(source, origin, THROUGHPUT_EVENTS)
  const clock = systemClock()
  const sinkStore = new MemoryEventStore()
  await sinkStore.start()
  const sink = new ActorRuntime(
    { actors: [tally] },
    {
      store: sinkStore,
      clock,
      hlc: new HybridLogicalClock(clock),
      taps: new Taps(),
      logger: silentLogger(),
      origin: 'node-b',
    },
  )
  await sink.start()
  const batch = LIBP2P_FABRIC_DEFAULTS.eventsPerFrame
  let received = 0
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))
  const server = createServer((socket) => {
    const decoder = new FrameDecoder()
    let pending: EventRecord[] = []
    let busy = false
    const drainPending = async () => {
      busy = true
      while (pending.length > 0) {
        const events = pending
        pending = []
        if (ingest) await sink.ingest(events, { from: 'a' })
        received += events.length
      }
      busy = false
      if (received >= THROUGHPUT_EVENTS) resolveDone()
    }
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      decoder.push(chunk)
      for (let body = decoder.next(); body; body = decoder.next()) {
        const frame = decodeFrame(body)
        if (frame.t !== 'events') continue
        if (signed) {
          const refusal = verifier.check(frame.events, frame.wire)
          if (refusal) throw new Error(`refused: ${refusal.reason}`)
        }
        for (const event of frame.events) pending.push(event)
      }
      if (!busy) void drainPending()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const started = performance.now()
  const client: Socket = connect(port, '127.0.0.1')
  client.setNoDelay(true)
  client.on('error', () => {})
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  let n = 0
  for (let from = 1; from <= THROUGHPUT_EVENTS; from += batch) {
    const read = await source.readOrigin(origin, from, batch)
    const events = signed ? signer.seal(read) : read
    const ok = client.write(encodeFrame({ t: 'events', n: ++n, events }))
    if (!ok) await new Promise((resolve) => client.once('drain', resolve))
  }
  await done
  const elapsed = performance.now() - started
  client.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await sink.stop()
  await sinkStore.stop()
  await source.stop()
  return THROUGHPUT_EVENTS / (elapsed / 1_000)
}

/** Lag at a fixed write rate: per event, time from A's append to B's ingest. */
async function lagRun(): Promise<number[]> {
  const ia = await identity('a')
  const ib = await identity('b')
  const a = await startGeo('a', ia, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: ib.peerId, addrs: [] }],
    ...fast,
  })
  const b = await startGeo('b', ib, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: ia.peerId, addrs: [a.fabric!.listenAddresses()[0]!] }],
    ...fast,
  })
  await until('connected', () => a.fabric!.status().peers[0]!.connected, 10_000)
  const appendedAt = new Map<number, number>()
  const lags: number[] = []
  const sa = a.taps.of('event.appended').subscribe((e) => {
    const now = performance.now()
    for (const event of e.events) appendedAt.set(event.seq, now)
  })
  const sb = b.taps.of('event.ingested').subscribe((e) => {
    const now = performance.now()
    for (const event of e.events) {
      const at = appendedAt.get(event.seq)
      if (at !== undefined) lags.push(now - at)
    }
  })
  // 10 writes every 10 ms, to 10 actors: 1,000 events/s.
  const total = LAG_RATE_PER_S * LAG_SECONDS
  const tickMs = 10
  const perTick = (LAG_RATE_PER_S * tickMs) / 1_000
  const begin = performance.now()
  const writes: Promise<unknown>[] = []
  for (let tick = 0; tick * perTick < total; tick++) {
    const due = begin + tick * tickMs
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    for (let i = 0; i < perTick; i++)
      writes.push(a.runtime.actor(tally, `lag${i}`).ask('add', { by: 1 }))
  }
  await Promise.all(writes)
  await until('b has every event', () => lags.length >= total, 30_000)
  sa.unsubscribe()
  sb.unsubscribe()
  await b.stop()
  await a.stop()
  return lags
}

interface ConvergeResult {
  /** From restoring the link to both stores holding the same events. */
  totalMs: number
  /** From the fabric reconnecting (handshake) to both holding everything. */
  afterReconnectMs: number
  /** `partition.healed.convergeMs` as each side reported it (max of the two). */
  healedMs: number
}

/** Partition, `perSide` writes on each side through the runtime, heal, time to identical stores. */
async function convergeRun(perSide: number): Promise<ConvergeResult> {
  const ia = await identity('a')
  const ib = await identity('b')
  const a = await startGeo('a', ia, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: ib.peerId, addrs: [] }],
    ...fast,
  })
  const port = Number(/\/tcp\/(\d+)/.exec(a.fabric!.listenAddresses()[0]!)![1])
  const proxy = await startTcpProxy({ targetPort: port })
  const b = await startGeo('b', ib, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [{ peerId: ia.peerId, addrs: [`/ip4/127.0.0.1/tcp/${proxy.port}`] }],
    ...fast,
  })
  try {
    await until('connected', () => b.fabric!.status().peers[0]!.connected, 10_000)
    proxy.cut()
    await until(
      'partition seen',
      () => !a.fabric!.status().peers[0]!.connected && !b.fabric!.status().peers[0]!.connected,
      15_000,
    )
    // Concurrent writes to the same 1,000 actors on both sides.
    await Promise.all(
      [a, b].map(async (geo) => {
        for (let done = 0; done < perSide; done += 500) {
          const asks: Promise<unknown>[] = []
          for (let i = done; i < Math.min(perSide, done + 500); i++)
            asks.push(geo.runtime.actor(tally, `t${i % 1_000}`).ask('add', { by: 1 }))
          await Promise.all(asks)
        }
      }),
    )
    const [va, vb] = await Promise.all([a.store.versionVector(), b.store.versionVector()])
    const healed: number[] = []
    const subs = [a, b].map((g) =>
      g.taps.of('partition.healed').subscribe((e) => healed.push(e.convergeMs)),
    )
    let reconnectedAt = 0
    const sub = b.taps.of('peer.connected').subscribe(() => (reconnectedAt ||= performance.now()))
    const restoredAt = performance.now()
    proxy.restore()
    await until(
      'converged',
      async () => (await holds(a.store, vb)) && (await holds(b.store, va)),
      120_000,
    )
    const convergedAt = performance.now()
    await until('partition.healed on both sides', () => healed.length >= 2, 30_000)
    for (const s of [...subs, sub]) s.unsubscribe()
    // Both replicas of an actor agree.
    const [sa, sb] = await Promise.all([
      a.runtime.actor(tally, 't7').state(),
      b.runtime.actor(tally, 't7').state(),
    ])
    if (sa.value !== sb.value || sa.value !== (2 * perSide) / 1_000)
      throw new Error(`states differ after heal: ${sa.value} vs ${sb.value}`)
    return {
      totalMs: convergedAt - restoredAt,
      afterReconnectMs: convergedAt - (reconnectedAt || restoredAt),
      healedMs: Math.max(...healed),
    }
  } finally {
    await b.stop()
    await a.stop()
    await proxy.close()
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function spread(values: number[], digits = 0): string {
  const f = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: digits })
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`
}

async function main(): Promise<void> {
  const began = performance.now()
  const lines: string[] = []
  const out = (line = '') => lines.push(line)
  out('## Fabric')
  out()
  out('`node --import tsx bench/fabric.bench.ts` (two in-process geos on 127.0.0.1, memory stores;')
  out('medians with min–max over the runs).')
  out()

  if (PARTS.has('throughput')) {
    const fabricRates: number[] = []
    const rawRates: number[] = []
    const transportRates: number[] = []
    const ratios: number[] = []
    for (let run = 0; run < THROUGHPUT_RUNS; run++) {
      const raw = await rawThroughput(true)
      const fabric = await fabricThroughput()
      const transport = await rawThroughput(false)
      rawRates.push(raw)
      fabricRates.push(fabric)
      transportRates.push(transport)
      ratios.push(fabric / raw)
      process.stderr.write(
        `throughput run ${run + 1}: fabric ${fabric.toFixed(0)} ev/s, raw ${raw.toFixed(0)} ev/s, raw without ingest ${transport.toFixed(0)} ev/s\n`,
      )
    }
    // Signing's cost, in pairs run back to back (in alternating order, so drift favours neither).
    const unsignedRates: number[] = []
    const signedRates: number[] = []
    const signedRatios: number[] = []
    for (let pair = 0; pair < SIGNING_PAIRS; pair++) {
      const first = pair % 2 === 0
      const a = await rawThroughput(true, !first)
      const b = await rawThroughput(true, first)
      const [unsigned, signed] = first ? [a, b] : [b, a]
      unsignedRates.push(unsigned)
      signedRates.push(signed)
      signedRatios.push(signed / unsigned)
      process.stderr.write(
        `signing pair ${pair + 1}: unsigned ${unsigned.toFixed(0)} ev/s, signed ${signed.toFixed(0)} ev/s\n`,
      )
    }
    out(
      `### Replication throughput A → B (${THROUGHPUT_EVENTS.toLocaleString('en-US')} events of ~150 B, catch-up, ${THROUGHPUT_RUNS} runs interleaved)`,
    )
    out()
    out('| path | events/s | fabric / raw floor |')
    out('|---|---|---|')
    out(
      `| fabric: libp2p (Noise, yamux), handshake, acks, ingest into the runtime | ${spread(fabricRates)} | ${spread(ratios.map((r) => r * 100))} % |`,
    )
    out(
      `| raw TCP floor: same frames, decoder, zod validation and ingest, pipelined | ${spread(rawRates)} | |`,
    )
    out(
      `| raw TCP, same frames, decoder and validation, no ingest (context) | ${spread(transportRates)} | |`,
    )
    out()
    out(`Goal ≥ 50 % of the raw floor: ${median(ratios) >= 0.5 ? 'met' : 'not met'}.`)
    out('The fabric row includes signing: A signs its events as it sends them, B verifies them.')
    out()
    out(
      `### What signing costs replication (issue 8): the raw floor with and without it, ${SIGNING_PAIRS} pairs back to back`,
    )
    out()
    out(
      "Signed: the sender signs each frame as the fabric does (one Ed25519 signature over the sha256 of its events' wire bytes, encoded once for the frame and the digest) and the receiver verifies it before ingest, hashing the bytes it received; sender and receiver share this process, so both costs are in the figure.",
    )
    out()
    out('| floor | events/s | signed / unsigned |')
    out('|---|---|---|')
    out(`| unsigned | ${spread(unsignedRates)} | |`)
    out(
      `| signed and verified | ${spread(signedRates)} | ${spread(signedRatios.map((r) => r * 100))} % |`,
    )
    out()
    out(
      `Goal ≥ 80 %: ${median(signedRatios) >= 0.8 ? 'met' : 'not met'}. Appends do not sign (a node signs when it sends), so the durable append path is unchanged.`,
    )
    out()
  }
  if (PARTS.has('lag')) {
    const p50s: number[] = []
    const p99s: number[] = []
    const maxes: number[] = []
    for (let run = 0; run < LAG_RUNS; run++) {
      const lags = (await lagRun()).sort((x, y) => x - y)
      p50s.push(quantile(lags, 0.5))
      p99s.push(quantile(lags, 0.99))
      maxes.push(lags.at(-1)!)
      process.stderr.write(
        `lag run ${run + 1}: p50 ${quantile(lags, 0.5).toFixed(2)} ms, p99 ${quantile(lags, 0.99).toFixed(2)} ms\n`,
      )
    }
    out(
      `### Replication lag at ${LAG_RATE_PER_S.toLocaleString('en-US')} events/s (${LAG_SECONDS} s per run, ${LAG_RUNS} runs; A's durable append to B's ingest)`,
    )
    out()
    out('| p50 ms | p99 ms | max ms |')
    out('|---|---|---|')
    out(`| ${spread(p50s, 2)} | ${spread(p99s, 2)} | ${spread(maxes, 1)} |`)
    out()
    out(`Goal p99 < 50 ms: ${median(p99s) < 50 ? 'met' : 'not met'}.`)
    out()
  }
  if (PARTS.has('converge')) {
    out(
      '### Convergence after a partition (concurrent writes to the same 1,000 actors on both sides, then heal)',
    )
    out()
    out(
      '| events written per side | runs | heal → identical stores, ms | reconnect → identical, ms | `partition.healed.convergeMs` |',
    )
    out('|---|---|---|---|---|')
    let goal100k = Infinity
    for (const { perSide, runs } of CONVERGE_CASES) {
      if (CONVERGE_PER_SIDE && !CONVERGE_PER_SIDE.includes(perSide)) continue
      const results: ConvergeResult[] = []
      for (let run = 0; run < runs; run++) {
        const result = await convergeRun(perSide)
        results.push(result)
        process.stderr.write(
          `converge ${perSide}/side run ${run + 1}: ${result.totalMs.toFixed(0)} ms\n`,
        )
      }
      const totals = results.map((r) => r.totalMs)
      if (perSide === 100_000) goal100k = median(totals)
      out(
        `| ${perSide.toLocaleString('en-US')} | ${runs} | ${spread(totals)} | ${spread(results.map((r) => r.afterReconnectMs))} | ${spread(results.map((r) => r.healedMs))} |`,
      )
    }
    out()
    out(
      `Goal 100,000 per side < 10 s: ${goal100k < 10_000 ? 'met' : 'not met'}. The 100k case runs ${CONVERGE_CASES[1].runs} times to keep the benchmark under three minutes.`,
    )
    out()
  }
  out(`Total benchmark time: ${((performance.now() - began) / 1_000).toFixed(0)} s.`)
  process.stdout.write(lines.join('\n') + '\n')
}

try {
  await main()
} finally {
  await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })))
}
