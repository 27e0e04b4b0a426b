// The live dashboard: a static page (dashboard-page.ts) and the stream it draws from. The
// stream sends one snapshot a second (this geo, each peer geo's link, lag and rates, the
// backlog, recent conflicts), so its cost does not grow with the event rate; the page's tap
// tail reads GET /v1/taps, filtered by kind on the server.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Subscription } from 'rxjs'
import type {
  ActorRuntime,
  ConcurrentEvent,
  Fabric,
  PeerStatus,
  TapActor,
  Taps,
} from '../../core/index.js'
import { DASHBOARD_HTML } from './dashboard-page.js'

/** How often the stream sends a snapshot. */
export const DASHBOARD_INTERVAL_MS = 1_000
/** Conflicts (re-folds) kept for the dashboard, newest first. */
export const DASHBOARD_CONFLICTS = 20
/** Most dashboard streams one gateway serves at once. */
export const MAX_DASHBOARD_STREAMS = 16

export interface DashboardComponents {
  runtime: ActorRuntime
  taps: Taps
  geo: string
  nodeId: string
  fabric?: Fabric
}

/** One re-fold as the dashboard lists it. */
interface ConflictEntry {
  readonly at: number
  readonly actor: TapActor
  readonly late: { origin: string; seq: number; hlc: { wall: number; logical: number } }
  readonly concurrent: readonly ConcurrentEvent[]
  readonly concurrentCount: number
  readonly stateBefore: unknown
  readonly stateAfter: unknown
}

interface PeerRates {
  eventsIn: number
  eventsOut: number
}

/** What one snapshot says. */
export interface DashboardSnapshot {
  readonly at: number
  readonly geo: string
  readonly nodeId: string
  readonly actorsInMemory: number
  readonly mailboxBacklog: number
  /** Events written here per second over the last interval. */
  readonly localEventsPerSecond: number
  readonly peers: ReadonlyArray<
    Pick<PeerStatus, 'geo' | 'peerId' | 'connected' | 'lagEvents' | 'lagMs' | 'rttMs' | 'since'> & {
      lastError?: string
      eventsInPerSecond: number
      eventsOutPerSecond: number
    }
  >
  readonly conflicts: readonly ConflictEntry[]
}

/**
 * The dashboard's state shared by its streams: conflicts and local writes are counted from
 * taps only while at least one stream is open (a node nobody watches builds no tap objects).
 */
export class Dashboard {
  private readonly conflicts: ConflictEntry[] = []
  private readonly streams = new Set<() => void>()
  private subscription: Subscription | undefined
  private localEvents = 0
  private timer: NodeJS.Timeout | undefined
  private last: { at: number; localEvents: number; peers: Map<string, PeerRates> } | undefined
  private latest: DashboardSnapshot | undefined

  constructor(private readonly components: DashboardComponents) {}

  /** Registers `GET /dashboard` and `GET /v1/dashboard/stream`. */
  register(app: FastifyInstance): void {
    app.get('/dashboard', (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header(
          'content-security-policy',
          "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
        )
        .send(DASHBOARD_HTML),
    )
    app.get('/v1/dashboard/stream', (request, reply) => {
      const headers = {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-anywhere-geo': this.components.geo,
      }
      if (request.method === 'HEAD') return reply.code(200).headers(headers).send()
      if (this.streams.size >= MAX_DASHBOARD_STREAMS)
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({
            error: 'OverloadedError',
            message: `${MAX_DASHBOARD_STREAMS} dashboards are open on this node already: close one or retry later`,
          })
      reply.raw.writeHead(200, { ...headers, connection: 'keep-alive' })
      this.open(reply)
      return reply.hijack()
    })
  }

  /** Ends every open stream (the server is stopping). */
  close(): void {
    for (const close of this.streams) close()
  }

  private open(reply: FastifyReply): void {
    const send = (snapshot: DashboardSnapshot) => {
      // A client that does not read is sent nothing more until it has: snapshots replace each other.
      if (reply.raw.writableLength > 64 * 1024) return
      reply.raw.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`)
    }
    const close = () => {
      if (!this.streams.delete(close)) return
      this.listeners.delete(send)
      reply.raw.end()
      if (this.streams.size === 0) this.stopWatching()
    }
    this.streams.add(close)
    this.listeners.add(send)
    reply.raw.on('close', close)
    if (this.streams.size === 1) this.startWatching()
    send(this.latest ?? this.snapshot())
  }

  private readonly listeners = new Set<(snapshot: DashboardSnapshot) => void>()

  private startWatching(): void {
    this.subscription = this.components.taps
      .of('event.reordered', 'event.appended')
      .subscribe((e) => {
        if (e.kind === 'event.appended') {
          this.localEvents += e.events.length
          return
        }
        this.conflicts.unshift({
          at: e.at,
          actor: e.actor,
          late: { origin: e.event.origin, seq: e.event.seq, hlc: e.event.hlc },
          concurrent: e.concurrent,
          concurrentCount: e.concurrentCount,
          stateBefore: bounded(e.stateBefore),
          stateAfter: bounded(e.stateAfter),
        })
        if (this.conflicts.length > DASHBOARD_CONFLICTS) this.conflicts.pop()
      })
    this.timer = setInterval(() => {
      const snapshot = this.snapshot()
      for (const send of this.listeners) send(snapshot)
    }, DASHBOARD_INTERVAL_MS)
    this.timer.unref()
  }

  private stopWatching(): void {
    this.subscription?.unsubscribe()
    this.subscription = undefined
    clearInterval(this.timer)
    this.timer = undefined
    this.last = undefined
    this.latest = undefined
  }

  private snapshot(): DashboardSnapshot {
    const { runtime, fabric, geo, nodeId } = this.components
    const now = Date.now()
    const peers = fabric?.status().peers ?? []
    const seconds = this.last ? Math.max((now - this.last.at) / 1000, 0.001) : 0
    const perSecond = (value: number, before: number | undefined) =>
      seconds > 0 && before !== undefined ? Math.max(0, (value - before) / seconds) : 0
    const rates = new Map<string, PeerRates>()
    const snapshot: DashboardSnapshot = {
      at: now,
      geo,
      nodeId,
      actorsInMemory: runtime.actorsInMemory,
      mailboxBacklog: runtime.mailboxBacklog(),
      localEventsPerSecond: perSecond(this.localEvents, this.last?.localEvents),
      peers: peers.map((p) => {
        const traffic = { eventsIn: p.traffic?.eventsIn ?? 0, eventsOut: p.traffic?.eventsOut ?? 0 }
        rates.set(p.peerId, traffic)
        const before = this.last?.peers.get(p.peerId)
        return {
          geo: p.geo,
          peerId: p.peerId,
          connected: p.connected,
          lagEvents: p.lagEvents,
          lagMs: p.lagMs,
          since: p.since,
          ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
          ...(p.lastError !== undefined ? { lastError: p.lastError } : {}),
          eventsInPerSecond: perSecond(traffic.eventsIn, before?.eventsIn),
          eventsOutPerSecond: perSecond(traffic.eventsOut, before?.eventsOut),
        }
      }),
      conflicts: [...this.conflicts],
    }
    this.last = { at: now, localEvents: this.localEvents, peers: rates }
    this.latest = snapshot
    return snapshot
  }
}

/** Longest JSON of a state the dashboard carries; a longer one is cut (it is for a person to read). */
export const DASHBOARD_MAX_STATE_CHARS = 2_000

function bounded(state: unknown): unknown {
  const text = JSON.stringify(state) ?? 'undefined'
  return text.length <= DASHBOARD_MAX_STATE_CHARS
    ? state
    : { truncated: text.slice(0, DASHBOARD_MAX_STATE_CHARS) }
}
