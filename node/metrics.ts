// A node's Prometheus metrics. Almost every value is pulled at scrape time from counters the
// runtime, the store wrapper and the fabric keep anyway (plain numbers bumped in place), so
// the hot paths pay no label hashing; only the rare fabric steps (refused peers, healed
// partitions) come from taps.
import { createRequire } from 'node:module'
import { Histogram, Registry } from 'prom-client'
import type { Subscription } from 'rxjs'
import type {
  ActorRuntime,
  ActorTypeStats,
  Fabric,
  PeerStatus,
  RuntimeStats,
  Taps,
} from '../core/index.js'
import type { StoreStats } from './metered-store.js'
import { histogramSamples, pulledMetric as pulled } from '../support/pulled-metrics.js'

/** Upper bounds (seconds) of the partition convergence buckets. */
export const CONVERGENCE_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/** What a node's metrics read. */
export interface NodeMetricsSources {
  app: string
  geo: string
  nodeId: string
  runtime: ActorRuntime
  runtimeStats: RuntimeStats
  storeStats: StoreStats
  taps: Taps
  fabric?: Fabric
}

/** A node's metrics registry, and the tap subscriptions that feed its rare counters. */
export interface NodeMetrics {
  /** Every metric of the node, with the process's default ones; served at `GET /metrics`. */
  readonly registry: Registry
  /** Ends the tap subscriptions. */
  stop(): void
}

/** The process metrics (CPU, memory, heap, event loop lag, handles) are collected once per process. */
let processRegistry: Registry | undefined

/**
 * prom-client's default metrics except `nodejs_gc_duration_seconds`: its observer of every
 * garbage collection cost 9% of a gateway request's CPU in bench/metrics.bench.ts, where all
 * the others together cost nothing measurable (they are read when scraped). prom-client
 * exposes no switch per metric, so each collector is loaded from its own module.
 */
function processMetrics(): Registry {
  if (processRegistry) return processRegistry
  processRegistry = new Registry()
  const require = createRequire(import.meta.url)
  const { metricsList } = require('prom-client/lib/defaultMetrics') as { metricsList: string[] }
  for (const name of metricsList) {
    if (name === 'gc') continue
    const collect = require(`prom-client/lib/metrics/${name}`) as DefaultCollector
    collect(processRegistry, { eventLoopMonitoringPrecision: 10 })
  }
  return processRegistry
}

type DefaultCollector = (
  registry: Registry,
  config: { eventLoopMonitoringPrecision: number },
) => void

/** Builds the registry of one node; nothing is read until a scrape. */
export function nodeMetrics(sources: NodeMetricsSources): NodeMetrics {
  const own = new Registry()
  const { runtime, runtimeStats: stats, storeStats: store, fabric, taps } = sources

  pulled(own, 'anywhere_node_info', 'This node: its app and node id (value 1)', 'gauge', () => [
    { labels: { app: sources.app, node_id: sources.nodeId }, value: 1 },
  ])

  // Runtime.
  const byType = <T>(read: (s: ActorTypeStats) => T): T[] => [...stats.types()].map(read)
  pulled(
    own,
    'anywhere_runtime_messages_handled_total',
    'Commands handled (handler ran, events durable), by actor type',
    'counter',
    () => byType((s) => ({ labels: { actor_type: s.type }, value: s.handled })),
  )
  pulled(
    own,
    'anywhere_runtime_messages_failed_total',
    'Commands refused or failed (bad input, handler error, store error, full mailbox), by actor type',
    'counter',
    () => byType((s) => ({ labels: { actor_type: s.type }, value: s.failed })),
  )
  pulled(
    own,
    'anywhere_runtime_handler_duration_seconds',
    'Command handling time including persistence, sampled (one command in 32 per actor type), by actor type',
    'histogram',
    () =>
      byType((s) =>
        histogramSamples('anywhere_runtime_handler_duration_seconds', s.latency, {
          actor_type: s.type,
        }),
      ).flat(),
  )
  pulled(
    own,
    'anywhere_runtime_mailbox_backlog',
    'Messages waiting in the mailboxes of actors in memory',
    'gauge',
    () => [{ value: runtime.mailboxBacklog() }],
  )
  pulled(own, 'anywhere_runtime_actors_in_memory', 'Actors held in memory (live)', 'gauge', () => [
    { value: runtime.actorsInMemory },
  ])
  pulled(
    own,
    'anywhere_runtime_evictions_total',
    'Actors evicted from memory, by reason',
    'counter',
    () => [
      { labels: { reason: 'idle' }, value: stats.evictedIdle },
      { labels: { reason: 'capacity' }, value: stats.evictedCapacity },
    ],
  )
  pulled(
    own,
    'anywhere_runtime_rehydrations_total',
    'Actors loaded from the store (snapshot and events)',
    'counter',
    () => [{ value: stats.rehydrations }],
  )
  pulled(
    own,
    'anywhere_runtime_refolds_total',
    'Re-folds: a replicated event sorted before events already applied (a concurrent write)',
    'counter',
    () => [{ value: stats.refolds }],
  )
  pulled(
    own,
    'anywhere_runtime_refolded_events_total',
    'Events folded again by re-folds',
    'counter',
    () => [{ value: stats.refoldedEvents }],
  )

  // Store.
  pulled(
    own,
    'anywhere_store_append_duration_seconds',
    'Time to make a batch of local events durable, sampled (one append in 32)',
    'histogram',
    () => histogramSamples('anywhere_store_append_duration_seconds', store.appendSeconds),
  )
  pulled(own, 'anywhere_store_append_batch_events', 'Events per append', 'histogram', () =>
    histogramSamples('anywhere_store_append_batch_events', store.appendEvents),
  )
  pulled(
    own,
    'anywhere_store_ingest_duration_seconds',
    'Time to store a batch of replicated events',
    'histogram',
    () => histogramSamples('anywhere_store_ingest_duration_seconds', store.ingestSeconds),
  )
  pulled(
    own,
    'anywhere_store_ingested_events_total',
    'Replicated events newly stored',
    'counter',
    () => [{ value: store.ingestedEvents }],
  )
  pulled(own, 'anywhere_store_snapshot_writes_total', 'Actor snapshots written', 'counter', () => [
    { value: store.snapshotWrites },
  ])
  pulled(
    own,
    'anywhere_store_errors_total',
    'Store operations that failed, by operation',
    'counter',
    () => [
      {
        labels: { operation: 'append' },
        value: byType((s) => s.appendFailures).reduce((a, b) => a + b, 0),
      },
      ...Object.entries(store.errors).map(([operation, value]) => ({
        labels: { operation },
        value,
      })),
    ],
  )

  // Fabric.
  const subscriptions: Subscription[] = []
  if (fabric) {
    registerFabricMetrics(own, fabric)
    let refused = 0
    pulled(
      own,
      'anywhere_fabric_peers_refused_total',
      'Connections refused: not on the allowlist, or a failed handshake',
      'counter',
      () => [{ value: refused }],
    )
    const converge = new Histogram({
      name: 'anywhere_fabric_partition_convergence_seconds',
      help: 'After a link came back, time until both sides held what the other held, by peer geo',
      labelNames: ['peer_geo'],
      buckets: CONVERGENCE_BUCKETS,
      registers: [own],
    })
    subscriptions.push(
      taps.of('peer.refused', 'partition.healed').subscribe((e) => {
        if (e.kind === 'peer.refused') refused++
        else converge.labels(e.geo).observe(e.convergeMs / 1000)
      }),
    )
  }

  // Requests this node handed to another geo (an overloaded geo sheds a share), by reason.
  const routed = new Map<string, number>()
  pulled(
    own,
    'anywhere_requests_routed_total',
    'Requests this geo handed to another geo, or refused with 503 for want of one, by reason and target geo',
    'counter',
    () =>
      [...routed].map(([key, value]) => {
        const [reason, toGeo] = key.split('\0') as [string, string]
        return { labels: { reason, to_geo: toGeo }, value }
      }),
  )
  subscriptions.push(
    taps.of('request.routed').subscribe((e) => {
      const key = `${e.reason}\0${e.to ?? 'none'}`
      routed.set(key, (routed.get(key) ?? 0) + 1)
    }),
  )

  const registry = Registry.merge([processMetrics(), own])
  registry.setDefaultLabels({ geo: sources.geo })
  return {
    registry,
    stop: () => {
      for (const s of subscriptions) s.unsubscribe()
    },
  }
}

/** Per peer geo, summed over its links (a geo of several nodes is one set of series). */
function registerFabricMetrics(registry: Registry, fabric: Fabric): void {
  const perGeo =
    (read: (peer: PeerStatus) => number, combine: 'sum' | 'max' = 'sum') =>
    () => {
      const values = new Map<string, number>()
      for (const peer of fabric.status().peers) {
        const value = read(peer)
        const held = values.get(peer.geo)
        values.set(
          peer.geo,
          held === undefined ? value : combine === 'sum' ? held + value : Math.max(held, value),
        )
      }
      return [...values].map(([geo, value]) => ({ labels: { peer_geo: geo }, value }))
    }
  pulled(
    registry,
    'anywhere_fabric_peer_connected',
    'Links up to the peer geo (1 per connected peer node)',
    'gauge',
    perGeo((p) => (p.connected ? 1 : 0)),
  )
  pulled(
    registry,
    'anywhere_fabric_peer_lag_events',
    'Events held here that the peer geo is not known to hold',
    'gauge',
    perGeo((p) => p.lagEvents),
  )
  pulled(
    registry,
    'anywhere_fabric_peer_lag_seconds',
    'Age of the oldest event the peer geo has not acknowledged (0 when caught up)',
    'gauge',
    perGeo((p) => p.lagMs / 1000, 'max'),
  )
  pulled(
    registry,
    'anywhere_fabric_peer_rtt_seconds',
    'Last measured round trip to the peer geo',
    'gauge',
    perGeo((p) => (p.rttMs ?? 0) / 1000, 'max'),
  )
  pulled(
    registry,
    'anywhere_fabric_events_received_total',
    'Replicated events taken from the peer geo that were new here',
    'counter',
    perGeo((p) => p.traffic?.eventsIn ?? 0),
  )
  pulled(
    registry,
    'anywhere_fabric_events_sent_total',
    'Events sent to the peer geo',
    'counter',
    perGeo((p) => p.traffic?.eventsOut ?? 0),
  )
  pulled(
    registry,
    'anywhere_fabric_bytes_received_total',
    'Replication frame bytes received from the peer geo',
    'counter',
    perGeo((p) => p.traffic?.bytesIn ?? 0),
  )
  pulled(
    registry,
    'anywhere_fabric_bytes_sent_total',
    'Replication frame bytes sent to the peer geo',
    'counter',
    perGeo((p) => p.traffic?.bytesOut ?? 0),
  )
  pulled(
    registry,
    'anywhere_fabric_reconnects_total',
    'Links to the peer geo that came back after being lost',
    'counter',
    perGeo((p) => p.traffic?.reconnects ?? 0),
  )
}
