// The origin of bench/fabric-cost.bench.ts's per-peer part, as its own process (so its CPU
// time is its own): a memory store, the runtime with the built-in actors and a fabric that
// dials the peers given, writing `counter.increment` in-process at a fixed rate.
//   node --import tsx bench/support/fabric-origin.ts <dataDir> <rate> <seconds> <peer multiaddr>...
// Prints one JSON line once every peer is connected and it has written for 1 s (warm-up), then
// measures: `{"cpuUs": CPU µs of this process per write, "writes": n}`.
import '../../transports/libp2p/polyfill.js'
import { builtInActors, counter } from '../../actors/index.js'
import { systemClock } from '../../core/clock.js'
import { HybridLogicalClock } from '../../core/hlc.js'
import { silentLogger } from '../../core/logger.js'
import { ActorRuntime } from '../../core/runtime/index.js'
import { signedOrigin } from '../../core/event-seal.js'
import { Taps } from '../../core/taps.js'
import { MemoryEventStore } from '../../stores/memory/memory-store.js'
import { libp2pFabric, loadOrCreateIdentity } from '../../transports/libp2p/index.js'

const [dataDir, rateText, secondsText, ...peerAddrs] = process.argv.slice(2)
const rate = Number(rateText)
const seconds = Number(secondsText)
const { peerId } = await loadOrCreateIdentity(`${dataDir!}/peer-key`)
const clock = systemClock()
const store = new MemoryEventStore()
const origin = signedOrigin('origin', peerId)
const runtime = new ActorRuntime(
  { actors: [...builtInActors] },
  {
    store,
    clock,
    hlc: new HybridLogicalClock(clock),
    taps: new Taps(),
    logger: silentLogger(),
    origin,
  },
)
await store.start()
await runtime.start()
const peers = peerAddrs.map((addr) => ({
  peerId: addr.slice(addr.lastIndexOf('/') + 1),
  addrs: [addr],
}))
const fabric = libp2pFabric({ listen: ['/ip4/127.0.0.1/tcp/0'], peers })({
  appName: 'anywhere',
  geo: 'origin',
  nodeId: origin,
  dataDir: dataDir!,
  log: store,
  ingest: runtime,
  feed: runtime.feed,
  taps: new Taps(),
  logger: silentLogger(),
  clock,
})
await fabric.start()
const deadline = Date.now() + 60_000
while (!fabric.status().peers.every((p) => p.connected)) {
  if (Date.now() > deadline) throw new Error('peers not connected within 60 s')
  await new Promise((resolve) => setTimeout(resolve, 20))
}

/** Writes at `rate` per second for `ms`: a tick every 10 ms, each of rate/100 concurrent asks. */
async function write(ms: number): Promise<number> {
  const perTick = Math.max(1, Math.round(rate / 100))
  const begin = Date.now()
  let writes = 0
  for (let tick = 0; Date.now() - begin < ms; tick++) {
    const wait = begin + tick * 10 - Date.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    await Promise.all(
      Array.from({ length: perTick }, (_, i) =>
        runtime.actor(counter, `c${(tick * perTick + i) % 200}`).ask('increment', { by: 1 }),
      ),
    )
    writes += perTick
  }
  return writes
}

await write(1_000)
const before = process.cpuUsage()
const writes = await write(seconds * 1_000)
const used = process.cpuUsage(before)
process.stdout.write(
  `${JSON.stringify({ cpuUs: (used.user + used.system) / writes, writes, seconds })}\n`,
)
await fabric.stop()
await runtime.stop()
await store.stop()
