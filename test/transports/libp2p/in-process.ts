// In-process geos for the fabric specs: a memory store, the actor runtime and a libp2p fabric each.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { EventRecord } from '../../../core/event.js'
import { OwnEventSigner } from '../../../transports/libp2p/event-signing.js'
import { z } from 'zod'
import { defineActor } from '../../../core/actor.js'
import { systemClock, type Clock } from '../../../core/clock.js'
import { HybridLogicalClock } from '../../../core/hlc.js'
import { silentLogger, streamLogger, type Logger } from '../../../core/logger.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { ActorRuntime } from '../../../core/runtime/index.js'
import { Taps, type TapEvent, type TapKind, type TapOf } from '../../../core/taps.js'
import {
  libp2pFabric,
  loadOrCreateIdentity,
  type Libp2pFabric,
  type Libp2pFabricInit,
} from '../../../transports/libp2p/index.js'
import {
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  PROTOCOL_VERSION,
  REPLICATION_PROTOCOL,
  type Frame,
} from '../../../transports/libp2p/frames.js'

/** An order-dependent register: the last `set` in merge order wins, and it keeps a history. */
export const note = defineActor({
  type: 'note',
  initialState: { value: '', history: [] as string[] },
  events: { set: z.object({ value: z.string() }) },
  apply: (state, event) => ({
    value: event.payload.value,
    history: [...state.history, event.payload.value],
  }),
  commands: (command) => ({
    set: command(z.object({ value: z.string() }), (ctx, input) => {
      ctx.emit('set', { value: input.value })
      return ctx.state
    }),
  }),
})

/** A counter: the sum of every `add`, whatever the order. */
export const tally = defineActor({
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

export interface TestGeo {
  geo: string
  nodeId: string
  peerId: string
  dataDir: string
  store: MemoryEventStore
  runtime: ActorRuntime
  hlc: HybridLogicalClock
  taps: Taps
  fabric: Libp2pFabric
  /** Every tap event since start. */
  tapLog: TapEvent[]
  /** Taps of the given kinds seen so far. */
  seen<K extends TapKind>(kind: K): TapOf<K>[]
  start(): Promise<void>
  stop(): Promise<void>
}

/** Fast timings so partitions are noticed and healed quickly in tests. */
export const FAST: Partial<Libp2pFabricInit> = {
  heartbeatMs: 250,
  silenceTimeoutMs: 3_000,
  backoffBaseMs: 50,
  backoffMaxMs: 500,
  pingIntervalMs: 500,
  pingTimeoutMs: 1_500,
  refreshMs: 500,
}

const created: TestGeo[] = []

/** Creates (without starting) a geo whose identity is known up front. */
export async function createGeo(
  geo: string,
  options: { appName?: string; dataDir?: string; debug?: boolean } = {},
): Promise<{ geo: string; dataDir: string; peerId: string }> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), `anywhere-fabric-${geo}-`)))
  const { peerId } = await loadOrCreateIdentity(join(dataDir, 'peer-key'))
  return { geo, dataDir, peerId }
}

/** The system clock, `offsetMs` off (timers are real). */
export function offsetClock(offsetMs: number): Clock {
  const real = systemClock()
  if (offsetMs === 0) return real
  return { now: () => real.now() + offsetMs, setTimer: (ms, fn) => real.setTimer(ms, fn) }
}

/** Starts a geo with the given fabric init (listen defaults to 127.0.0.1 port 0). */
export async function startGeo(
  identity: { geo: string; dataDir: string; peerId: string },
  init: Partial<Libp2pFabricInit> & { peers: Libp2pFabricInit['peers'] },
  options: {
    appName?: string
    debug?: boolean
    store?: MemoryEventStore
    /** Runs the geo's wall clock this far from the real one (a skewed clock). */
    clockOffsetMs?: number
    /** The geo's clock (instead of `clockOffsetMs`). */
    clock?: Clock
    /** Where the geo logs (instead of silence, or `debug`'s stderr). */
    logger?: Logger
    maxClockSkewMs?: number
    /** The log id of the geo's origin (default `node-<geo>`; a memory-store node gets a new one each start). */
    logId?: string
  } = {},
): Promise<TestGeo> {
  const clock = options.clock ?? offsetClock(options.clockOffsetMs ?? 0)
  const hlc = new HybridLogicalClock(
    clock,
    options.maxClockSkewMs ? { maxSkewMs: options.maxClockSkewMs } : {},
  )
  const taps = new Taps()
  const tapLog: TapEvent[] = []
  const subscription = taps.events$.subscribe((e) => tapLog.push(e))
  const store = options.store ?? new MemoryEventStore()
  const logger =
    options.logger ??
    (options.debug
      ? streamLogger({ level: 'debug', fields: { geo: identity.geo } })
      : silentLogger())
  const nodeId = `${options.logId ?? `node-${identity.geo}`}.${identity.peerId}`
  const runtime = new ActorRuntime(
    { actors: [note, tally] },
    { store, clock, hlc, taps, logger, origin: nodeId },
  )
  const fabric = libp2pFabric({ listen: ['/ip4/127.0.0.1/tcp/0'], ...FAST, ...init })({
    appName: options.appName ?? 'fabric-test',
    geo: identity.geo,
    nodeId,
    dataDir: identity.dataDir,
    log: store,
    ingest: runtime,
    feed: runtime.feed,
    taps,
    logger,
    clock,
  })
  let stopped = false
  const handle: TestGeo = {
    ...identity,
    nodeId,
    store,
    runtime,
    hlc,
    taps,
    fabric,
    tapLog,
    seen: <K extends TapKind>(kind: K) => tapLog.filter((e): e is TapOf<K> => e.kind === kind),
    async start() {
      await store.start()
      await runtime.start()
      await fabric.start()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await fabric.stop()
      await runtime.stop()
      await store.stop()
      subscription.unsubscribe()
    },
  }
  created.push(handle)
  await handle.start()
  return handle
}

/** Stops every geo started by `startGeo` (call in `afterEach`). */
/** Two geos, b dialling a (a knows b's key but not its address); their data dirs go into `dirs`. */
export async function startPair(dirs: string[]): Promise<[TestGeo, TestGeo]> {
  const a = await createGeo('a')
  const b = await createGeo('b')
  dirs.push(a.dataDir, b.dataDir)
  const geoA = await startGeo(a, { peers: [{ peerId: b.peerId, addrs: [] }] })
  const geoB = await startGeo(b, {
    peers: [{ geo: 'a', peerId: a.peerId, addrs: [addressOf(geoA)] }],
  })
  return [geoA, geoB]
}

export async function stopAllGeos(): Promise<void> {
  const all = created.splice(0)
  await Promise.allSettled(all.map((g) => g.stop()))
}

/** Removes data dirs. */
export async function removeDirs(dirs: string[]): Promise<void> {
  await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })))
}

/** Polls `check` until it returns true or the deadline passes; then throws with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** The fabric address of a started geo (its first listen address, which ends in /p2p/<PeerId>). */
export function addressOf(geo: TestGeo): string {
  const address = geo.fabric.listenAddresses()[0]
  if (!address) throw new Error(`${geo.geo} has no listen address`)
  return address
}

/** A bare libp2p node (TCP, Noise, yamux) that speaks whatever a test writes: a malicious or foreign peer. */
export interface RawPeer {
  peerId: string
  node: Libp2p
  /** The origin `<log>.<PeerId>` whose events this peer's key signs. */
  origin(log: string): string
  /** `events` with each origin's run signed by this peer's key, as its node would send them. */
  sign(events: readonly EventRecord[]): EventRecord[]
  /** Opens a replication stream to `address` (throws if the fabric refuses the connection). */
  open(address: string): Promise<Stream>
  /** Sends this peer's hello (an empty vector) on `stream` and reads the answer, which must be a hello. */
  handshake(stream: Stream): Promise<ReturnType<typeof frameReader>>
  stop(): Promise<void>
}

const rawPeers: RawPeer[] = []

/** Starts a raw peer with the key in `keyFile` (created when missing). */
export async function startRawPeer(keyFile: string): Promise<RawPeer> {
  const { privateKey, peerId } = await loadOrCreateIdentity(keyFile)
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1_000 },
  })
  const signer = new OwnEventSigner(privateKey)
  const raw: RawPeer = {
    peerId,
    node,
    origin: (log) => `${log}.${peerId}`,
    sign: (events) => {
      const runs = new Map<string, EventRecord[]>()
      for (const event of events) runs.set(event.origin, [...(runs.get(event.origin) ?? []), event])
      return [...runs.values()].flatMap((run) => signer.seal(run))
    },
    open: (address) =>
      node.dialProtocol(multiaddr(address), REPLICATION_PROTOCOL, {
        signal: AbortSignal.timeout(5_000),
      }),
    handshake: async (stream) => {
      const reader = frameReader(stream)
      stream.send(
        encodeFrame({
          t: 'hello',
          protocol: PROTOCOL_VERSION,
          app: 'fabric-test',
          geo: 'raw',
          node: 'node-raw',
          vector: {},
        }),
      )
      const reply = await reader.next()
      if (reply?.t !== 'hello') throw new Error(`expected a hello, got ${JSON.stringify(reply)}`)
      return reader
    },
    stop: async () => {
      await node.stop()
    },
  }
  rawPeers.push(raw)
  return raw
}

/** Stops every raw peer (call in `afterEach`). */
export async function stopAllRawPeers(): Promise<void> {
  const all = rawPeers.splice(0)
  await Promise.allSettled(all.map((p) => p.stop()))
}

/** Reads frames from a raw stream; `next()` waits for the next one (or undefined once the stream ended). */
export function frameReader(stream: Stream): {
  next(timeoutMs?: number): Promise<Frame | undefined>
  closed(): boolean
} {
  const decoder = new FrameDecoder()
  const frames: Frame[] = []
  let ended = false
  let wake: (() => void) | undefined
  stream.addEventListener('message', (event) => {
    const data = event.data
    if (data instanceof Uint8Array) decoder.push(data)
    else for (const chunk of data) decoder.push(chunk)
    for (let body = decoder.next(); body; body = decoder.next()) frames.push(decodeFrame(body))
    wake?.()
  })
  const end = () => {
    ended = true
    wake?.()
  }
  stream.addEventListener('close', end)
  stream.addEventListener('remoteCloseWrite', end)
  return {
    closed: () => ended,
    async next(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      while (frames.length === 0 && !ended && Date.now() < deadline)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
          wake = () => {
            clearTimeout(timer)
            wake = undefined
            resolve()
          }
        })
      return frames.shift()
    },
  }
}

/**
 * Registers the hooks a fabric spec needs, inside its `describe`: every geo and raw peer
 * stopped after each test (even a failed one), the temp dirs removed at the end. Returns
 * the list the spec pushes its dirs into.
 */
export function cleanUpAfterEach(): string[] {
  const dirs: string[] = []
  afterEach(async () => {
    await stopAllRawPeers()
    await stopAllGeos()
  })
  after(async () => {
    await removeDirs(dirs)
  })
  return dirs
}
