import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { systemClock } from '../../../core/clock.js'
import { NotRunningError } from '../../../core/errors.js'
import { HybridLogicalClock } from '../../../core/hlc.js'
import { silentLogger } from '../../../core/logger.js'
import { MemoryEventStore } from '../../../stores/memory/memory-store.js'
import { ActorRuntime } from '../../../core/runtime/index.js'
import { Taps } from '../../../core/taps.js'
import { libp2pFabric } from '../../../transports/libp2p/index.js'
import { createGeo, removeDirs, tally } from './in-process.js'

/** Listening TCP servers of this process (a libp2p node listens with one per address). */
function listeningServers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length
}

/** True when something accepts TCP connections on the port. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.setTimeout(2_000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

describe('fabric: lifecycle', function () {
  this.timeout(20_000)
  const dirs: string[] = []

  after(async () => {
    await removeDirs(dirs)
  })

  it('stop() during start() stops the libp2p node it was creating', async () => {
    const identity = await createGeo('stop-early')
    dirs.push(identity.dataDir)
    const clock = systemClock()
    const taps = new Taps()
    const store = new MemoryEventStore()
    await store.start()
    const runtime = new ActorRuntime(
      { actors: [tally] },
      {
        store,
        clock,
        hlc: new HybridLogicalClock(clock),
        taps,
        logger: silentLogger(),
        origin: 'node-stop-early',
      },
    )
    const fabric = libp2pFabric({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] })({
      appName: 'fabric-test',
      geo: identity.geo,
      nodeId: 'node-stop-early',
      dataDir: identity.dataDir,
      log: store,
      ingest: runtime,
      feed: runtime.feed,
      taps,
      logger: silentLogger(),
      clock,
    })
    const serversBefore = listeningServers()
    try {
      // SIGTERM while the node starts: stop() runs while start() is still in flight.
      const started = fabric.start()
      const stopped = fabric.stop()
      await assert.rejects(started, NotRunningError)
      await stopped
      assert.equal(listeningServers(), serversBefore, 'a libp2p node still listens after stop()')
      assert.deepEqual(fabric.listenAddresses(), [])
    } finally {
      await fabric.stop()
      await store.stop()
    }
  })

  it('stop() after a completed start() closes the port, and is idempotent', async () => {
    const identity = await createGeo('stop-late')
    dirs.push(identity.dataDir)
    const clock = systemClock()
    const store = new MemoryEventStore()
    await store.start()
    const taps = new Taps()
    const runtime = new ActorRuntime(
      { actors: [tally] },
      {
        store,
        clock,
        hlc: new HybridLogicalClock(clock),
        taps,
        logger: silentLogger(),
        origin: 'n',
      },
    )
    const fabric = libp2pFabric({ listen: ['/ip4/127.0.0.1/tcp/0'], peers: [] })({
      appName: 'fabric-test',
      geo: identity.geo,
      nodeId: 'n',
      dataDir: identity.dataDir,
      log: store,
      ingest: runtime,
      feed: runtime.feed,
      taps,
      logger: silentLogger(),
      clock,
    })
    const serversBefore = listeningServers()
    try {
      await fabric.start()
      const port = Number(/\/tcp\/(\d+)/.exec(fabric.listenAddresses()[0]!)![1])
      assert.equal(await listening(port), true)
      assert.ok(listeningServers() > serversBefore)
      await Promise.all([fabric.stop(), fabric.stop()])
      assert.equal(await listening(port), false)
      assert.equal(listeningServers(), serversBefore)
    } finally {
      await fabric.stop()
      await store.stop()
    }
  })
})
