// A geo of several real `anywhere-node` processes sharing one real redis-server, for tests.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeProcess, type NodeProcess } from './node-process.js'
import { poll } from './multi-geo.js'
import { startRedisCluster, type RedisCluster } from './redis-cluster.js'
import { startRedisServer, uniquePrefix, type RedisServer } from './redis-server.js'

export interface GeoNode {
  readonly name: string
  readonly process: NodeProcess
  readonly url: string
  readonly nodeId: string
}

export interface GeoNodes {
  /** The one redis-server the nodes share (absent on a cluster). */
  readonly redis?: RedisServer
  /** The Redis Cluster the nodes share, when started with `cluster`. */
  readonly cluster?: RedisCluster
  /** The key prefix the nodes share. */
  readonly prefix: string
  readonly nodes: readonly GeoNode[]
  node(name: string): GeoNode
  /** Starts one more node of the geo (its data dir fresh), on `redisUrl` when given (a proxy to the geo's Redis). */
  add(name: string, options?: { redisUrl?: string }): Promise<GeoNode>
  /** Resolves once every running node in `names` lists exactly those nodes as members. */
  waitMembers(names: readonly string[], timeoutMs?: number): Promise<void>
  /** The node id that `via` says owns `type/id`. */
  ownerOf(via: GeoNode, type: string, id: string): Promise<string>
  stop(): Promise<void>
}

export interface GeoView {
  members: { nodeId: string; url: string }[]
  owner?: string
}

export async function geoView(node: GeoNode, actor?: string): Promise<GeoView> {
  const query = actor ? `?actor=${encodeURIComponent(actor)}` : ''
  const response = await fetch(`${node.url}/v1/geo${query}`, { signal: AbortSignal.timeout(5_000) })
  return (await response.json()) as GeoView
}

/**
 * Starts redis-server (AOF always; with `cluster`, a 3-master Redis Cluster) and the nodes
 * `names` on it, and waits until they all see each other.
 */
export async function startGeoNodes(init: {
  configFile: string
  names: readonly string[]
  cluster?: boolean
}): Promise<GeoNodes> {
  const redis = init.cluster ? undefined : await startRedisServer({ appendfsync: 'always' })
  const cluster = init.cluster ? await startRedisCluster({ appendfsync: 'always' }) : undefined
  const target = redis ? ['--redis-url', redis.url] : ['--redis-cluster', cluster!.urls.join(',')]
  const prefix = uniquePrefix('geo')
  const nodes = new Map<string, GeoNode>()
  const dirs: string[] = []
  const add = async (name: string, options?: { redisUrl?: string }): Promise<GeoNode> => {
    const dataDir = await mkdtemp(join(tmpdir(), `anywhere-geo-node-${name}-`))
    dirs.push(dataDir)
    const process = await startNodeProcess({
      args: [
        'start',
        '--config',
        init.configFile,
        '--port',
        '0',
        '--data-dir',
        dataDir,
        ...(options?.redisUrl ? ['--redis-url', options.redisUrl] : target),
        '--redis-prefix',
        prefix,
        '--log-format',
        'json',
      ],
      env: { ANYWHERE_NODE_FROM_SOURCE: '1' },
      timeoutMs: 90_000,
    })
    const node = { name, process, url: process.url, nodeId: process.ready.nodeId }
    nodes.set(name, node)
    return node
  }
  const geo: GeoNodes = {
    ...(redis ? { redis } : {}),
    ...(cluster ? { cluster } : {}),
    prefix,
    get nodes() {
      return [...nodes.values()]
    },
    node(name) {
      const node = nodes.get(name)
      if (!node) throw new Error(`no node '${name}'`)
      return node
    },
    add,
    async waitMembers(names, timeoutMs = 30_000) {
      const wanted = names.map((n) => geo.node(n).nodeId).sort()
      let seen = ''
      await poll(
        `nodes ${names.join(', ')} to list each other as the geo's members (last seen: ${seen})`,
        async () => {
          const views = await Promise.all(names.map((n) => geoView(geo.node(n))))
          seen = JSON.stringify(views.map((v) => v.members.map((m) => m.nodeId)))
          return views.every(
            (v) => JSON.stringify(v.members.map((m) => m.nodeId).sort()) === JSON.stringify(wanted),
          )
        },
        timeoutMs,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; views: ${seen}`)
      })
    },
    async ownerOf(via, type, id) {
      const owner = (await geoView(via, `${type}/${id}`)).owner
      if (!owner) throw new Error(`node ${via.name} named no owner of ${type}/${id}`)
      return owner
    },
    async stop() {
      await Promise.allSettled([...nodes.values()].map((n) => n.process.kill('SIGKILL')))
      await redis?.stop()
      await cluster?.stop()
      await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
    },
  }
  try {
    // One at a time: each start compiles the sources, which is heavy on a loaded machine.
    for (const name of init.names) await add(name)
    await geo.waitMembers(init.names)
  } catch (error) {
    await geo.stop()
    throw error
  }
  return geo
}
