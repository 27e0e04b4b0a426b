// A real Redis Cluster for tests: N masters, each a `redis-server --cluster-enabled yes` on
// random ports (client and bus), joined by hand (slots split evenly with ADDSLOTSRANGE, a
// distinct config epoch each, CLUSTER MEET), ready once every node says cluster_state:ok.
// Specs call `before(requireRedisServer)`, start one in `before`, stop it in `after`.
import { Redis } from 'ioredis'
import { freePort } from './ports.js'
import { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server.js'

/** Redis Cluster's number of hash slots. */
const SLOTS = 16_384
/** How long the nodes may take to agree on cluster_state:ok (start, or after a restart). */
const CLUSTER_OK_TIMEOUT_MS = 30_000
/** Pause between two CLUSTER INFO polls. */
const POLL_INTERVAL_MS = 50
/** One admin command gets this long. */
const ADMIN_COMMAND_TIMEOUT_MS = 2_000

export interface RedisClusterOptions {
  /** How many masters (no replicas); default 3. */
  masters?: number
  /** `appendonly yes` with this fsync policy on every master; omitted: no persistence. */
  appendfsync?: RedisServerOptions['appendfsync']
  /** `cluster-node-timeout`; default 5 s. */
  nodeTimeoutMs?: number
}

export interface RedisCluster {
  /** Each master's `redis://127.0.0.1:port`, the store's `cluster` setting. */
  readonly urls: string[]
  readonly masters: readonly RedisServer[]
  /** The master that serves `key`'s hash slot. */
  masterOf(key: string | Buffer): Promise<RedisServer>
  /** Resolves once every master answers and reports cluster_state:ok (after a restart). */
  waitUntilOk(): Promise<void>
  /** Stops every master and removes their data dirs. Idempotent. */
  stop(): Promise<void>
}

/** Starts a cluster of `masters` masters on 127.0.0.1 and resolves once it serves every slot. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const count = options.masters ?? 3
  const masters: RedisServer[] = []
  const busPorts: number[] = []
  const stop = async () => {
    await Promise.all(masters.map((master) => master.stop()))
  }
  try {
    for (let i = 0; i < count; i++) {
      busPorts.push(await freePort())
      masters.push(
        await startRedisServer({
          ...(options.appendfsync ? { appendfsync: options.appendfsync } : {}),
          cluster: { nodeTimeoutMs: options.nodeTimeoutMs ?? 5_000, busPort: busPorts[i]! },
        }),
      )
    }
    const ranges = masters.map((_, i) => [
      Math.floor((SLOTS * i) / count),
      Math.floor((SLOTS * (i + 1)) / count) - 1,
    ])
    for (const [i, master] of masters.entries()) {
      await admin(master.port, 'CLUSTER', 'ADDSLOTSRANGE', ranges[i]![0]!, ranges[i]![1]!)
      // Distinct epochs up front, as redis-cli --cluster create does, so no collision to resolve.
      await admin(master.port, 'CLUSTER', 'SET-CONFIG-EPOCH', i + 1)
    }
    for (const [i, master] of masters.entries())
      if (i > 0)
        await admin(masters[0]!.port, 'CLUSTER', 'MEET', '127.0.0.1', master.port, busPorts[i]!)
    await waitUntilOk(masters, count)
    return {
      urls: masters.map((master) => master.url),
      masters,
      async masterOf(key) {
        const slot = Number(await admin(masters[0]!.port, 'CLUSTER', 'KEYSLOT', key))
        const index = ranges.findIndex(([first, last]) => slot >= first! && slot <= last!)
        return masters[index]!
      },
      waitUntilOk: () => waitUntilOk(masters, count),
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Polls CLUSTER INFO on every master until all report ok and know every master. */
async function waitUntilOk(masters: readonly RedisServer[], count: number): Promise<void> {
  const deadline = Date.now() + CLUSTER_OK_TIMEOUT_MS
  let seen: string[] = []
  while (Date.now() < deadline) {
    seen = await Promise.all(
      masters.map((master) =>
        admin(master.port, 'CLUSTER', 'INFO').then(String, (error: unknown) => String(error)),
      ),
    )
    const ok = seen.every(
      (info) =>
        /^cluster_state:ok/m.test(info) &&
        new RegExp(`^cluster_known_nodes:${count}\\b`, 'm').test(info) &&
        /^cluster_slots_ok:16384\b/m.test(info),
    )
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
  }
  throw new Error(
    `the Redis Cluster did not reach cluster_state:ok within ${CLUSTER_OK_TIMEOUT_MS} ms; CLUSTER INFO per master:\n` +
      seen.map((info, i) => `--- ${masters[i]!.url}\n${info}`).join('\n'),
  )
}

/** One command on a fresh connection to one node (so a restarted node is reached anew). */
async function admin(port: number, ...args: Array<string | number | Buffer>): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: ADMIN_COMMAND_TIMEOUT_MS,
    commandTimeout: ADMIN_COMMAND_TIMEOUT_MS,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}
