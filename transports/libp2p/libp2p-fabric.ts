import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import {
  NotRunningError,
  type EventFeed,
  type EventRecord,
  type Fabric,
  type FabricComponents,
  type FabricStatus,
  type AbortOptions,
  type ForwardedRequest,
  type ForwardedResponse,
  notRunningMessage,
  originPeerId,
} from '../../core/index.js'
import { REPLICATION_PROTOCOL } from './frames.js'
import { parseMultiaddr, parsePeers, readPsk } from './fabric-init.js'
import { EventVerifier, OwnEventSigner } from './event-signing.js'
import { FORWARD_PROTOCOL, forwardRequest, serveForwardStream } from './forward-protocol.js'
import { loadOrCreateIdentity, type NodeIdentity } from './identity.js'
import { LocalFeed } from './local-feed.js'
import { fileNoticeKeeper, RetiredOrigins, type RetiredBase } from './retired-origins.js'
import {
  parseLibp2pFabricInit,
  type Libp2pFabricInit,
  type Libp2pFabricOptions,
} from './options.js'
import { PeerLink } from './peer-link.js'
import type { LinkSettings } from './options.js'
import type { Libp2pPeerStatus } from './session.js'
import type { SessionComponents } from './session.js'

/** `FabricStatus` with the libp2p fabric's own per-peer fields. */
export interface Libp2pFabricStatus extends FabricStatus {
  readonly peers: readonly Libp2pPeerStatus[]
}

/** The fabric `libp2pFabric` creates. */
export interface Libp2pFabric extends Fabric {
  /** Connection and replication state per peer, with what cannot replicate to it. */
  status(): Libp2pFabricStatus
  /** The base of retired origins hellos leave out now; undefined before the fabric started. */
  retired(): RetiredBase | undefined
}

/** Refreshes a restarted node waits at most, for its links' hellos, before it issues its notice. */
const OWN_NOTICE_DEFER_REFRESHES = 5

/**
 * The inter-geo fabric over libp2p: TCP, Noise, yamux, an allowlist enforced by the
 * connection gater, and `/anywhere/replicate/1` to every allowlisted peer. `init` is
 * parsed here, once: an invalid one throws `ConfigError` naming the field.
 *
 * New local events reach the peers along one path: the runtime's `components.feed` (an
 * `EventFeed`) -> the fabric's `LocalFeed` -> one `ReplicationSender` per peer.
 *
 * ```ts
 * const fabric = libp2pFabric({
 *   listen: ['/ip4/0.0.0.0/tcp/7400'],
 *   peers: [{ geo: 'eu', peerId: '12D3KooW...', addrs: ['/dns4/eu.example/tcp/7400'] }],
 * })(components)
 * await fabric.start()
 * ```
 */
export function libp2pFabric(
  init: Libp2pFabricInit,
  preset: { identity?: NodeIdentity } = {},
): (components: FabricComponents) => Libp2pFabric {
  const options = parseLibp2pFabricInit(init)
  return (components) => new Libp2pFabricNode(options, components, preset.identity)
}

class Libp2pFabricNode implements Libp2pFabric {
  private id = ''
  private node: Libp2p | undefined
  private readonly links = new Map<string, PeerLink>()
  private retiredOrigins: RetiredOrigins | undefined
  /** While set, this node's next notice waits for its links' hellos (or this time). */
  private ownNoticeDueAt: number | undefined
  private unfollowEventFeed: (() => void) | undefined
  private cancelRefresh: (() => void) | undefined
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new'
  /** `startNode` while it runs: `stop()` waits for it, so nothing it creates outlives the fabric. */
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private readonly logger

  constructor(
    private readonly options: Libp2pFabricOptions,
    private readonly components: FabricComponents,
    /** The node's key when it already loaded it (its origin names the key's PeerId). */
    private readonly identity?: NodeIdentity,
  ) {
    this.logger = components.logger.child({ component: 'fabric' })
  }

  get peerId(): string {
    return this.id
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'starting'
    this.starting = this.startNode()
    try {
      await this.starting
    } catch (error) {
      await this.stop()
      throw error
    } finally {
      this.starting = undefined
    }
  }

  /** Idempotent; when a start is under way, it waits for it and then releases what it created. */
  stop(): Promise<void> {
    this.stopping ??= this.release()
    return this.stopping
  }

  private async release(): Promise<void> {
    this.state = 'stopped'
    // A stop during start (SIGTERM while the node starts): let startNode finish, or fail,
    // so the libp2p node it creates is stopped here rather than left listening.
    await this.starting?.catch(() => undefined)
    this.cancelRefresh?.()
    this.unfollowEventFeed?.()
    this.unfollowEventFeed = undefined
    await Promise.allSettled([...this.links.values()].map((link) => link.stop()))
    const node = this.node
    this.node = undefined
    if (node) await node.stop()
    // The notices taken are on disk before the fabric says it stopped.
    await this.retiredOrigins?.flushed()
  }

  listenAddresses(): string[] {
    return this.node?.getMultiaddrs().map((a) => a.toString()) ?? []
  }

  async forward(
    peerId: string,
    request: ForwardedRequest,
    options?: AbortOptions,
  ): Promise<ForwardedResponse> {
    const node = this.node
    if (!node || this.state !== 'running' || !this.links.has(peerId))
      throw new NotRunningError(`cannot forward to ${peerId}: no running fabric link to it`)
    return forwardRequest(node, peerIdFromString(peerId), request, options)
  }

  retired(): RetiredBase | undefined {
    return this.retiredOrigins?.snapshot
  }

  status(): Libp2pFabricStatus {
    return {
      peerId: this.id,
      listen: this.listenAddresses(),
      peers: [...this.links.values()].map((link) => link.status()),
    }
  }

  private async startNode(): Promise<void> {
    const { dataDir, log, taps, clock, nodeId } = this.components
    const options = this.options
    const identity =
      this.identity ?? (await loadOrCreateIdentity(options.keyFile ?? join(dataDir, 'peer-key')))
    this.id = identity.peerId
    // This node signs the events it writes only when its origin names its key; a log
    // written before events were signed (or without this key) stays in this geo. In a geo
    // of several nodes the key is the geo's, and every origin naming it is one of the geo's
    // nodes: the node that replicates signs them all.
    const signer =
      originPeerId(nodeId) === identity.peerId ? new OwnEventSigner(identity.privateKey) : undefined
    const isOwn = (origin: string) => origin === nodeId || originPeerId(origin) === identity.peerId
    if (!signer)
      this.logger.warn(
        `this node's origin ${nodeId} does not name its fabric key ${identity.peerId}: its events are not signed, and no peer takes them`,
      )
    const accepts = (peerId: string) => peerId === this.id || this.links.has(peerId)
    const verifier = new EventVerifier(accepts)
    const retired = new RetiredOrigins({
      keeper:
        this.components.notices ?? fileNoticeKeeper(join(dataDir, 'retired-origins'), this.logger),
      key: identity.peerId,
      privateKey: identity.privateKey,
      accepts,
      maxLiveOriginsPerKey: options.maxLiveOriginsPerKey,
      clock,
      logger: this.logger,
    })
    this.retiredOrigins = retired
    const peers = parsePeers(options.peers, this.id, this.logger)
    const listen = options.listen.map((address) => parseMultiaddr(address, 'listen'))
    const psk = options.psk ? await readPsk(options.psk) : undefined

    const localFeed = new LocalFeed(log, clock, {
      coalesceMs: options.liveCoalesceMs,
      coalesceFullRate: options.liveCoalesceFullRate,
      isOwn,
      ...(signer ? { seal: (run: readonly EventRecord[]) => signer.seal(run) } : {}),
    })
    await localFeed.start()

    const node = await createLibp2p({
      privateKey: identity.privateKey,
      addresses: { listen: listen.map((a) => a.toString()) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...(psk ? { connectionProtector: preSharedKey({ psk }) } : {}),
      connectionGater: {
        denyDialPeer: (peer) => !this.links.has(peer.toString()),
        denyInboundEncryptedConnection: (peer) => this.refuseUnknown(peer, 'inbound'),
        denyOutboundEncryptedConnection: (peer) => this.refuseUnknown(peer, 'outbound'),
      },
      connectionManager: {
        inboundConnectionThreshold: options.inboundConnectionThreshold,
        dialTimeout: options.dialTimeoutMs,
      },
      connectionMonitor: {
        pingInterval: options.pingIntervalMs,
        pingTimeout: { minTimeout: options.pingTimeoutMs, maxTimeout: options.pingTimeoutMs },
      },
      // The monitor opens a ping stream per interval; a slow one must not trip the stream limit.
      services: { ping: ping({ maxInboundStreams: 8, maxOutboundStreams: 8 }) },
      start: false,
    })
    this.node = node

    const sessionComponents: SessionComponents = {
      appName: this.components.appName,
      geo: this.components.geo,
      nodeId,
      log,
      ingest: this.components.ingest,
      taps,
      logger: this.logger,
      clock,
      localFeed,
      isOwn,
      signer,
      verifier,
      retired,
      settings: options,
      ...(this.components.advert ? { advert: this.components.advert } : {}),
    }
    const linkSettings: LinkSettings = { ...options, random: options.random ?? Math.random }
    for (const peer of peers) {
      const id = peer.peerId.toString()
      this.links.set(
        id,
        new PeerLink(id, peer.peerId, peer.geo, node, sessionComponents, linkSettings),
      )
    }

    // Notices are read once the allowlist is known (those of other keys stay aside), and
    // this node's own is issued before any peer is sent a hello.
    await retired.load()
    retired.track(localFeed.known)
    // A node that issued a notice before waits until its links handshook (or a few
    // refreshes) to issue the next: a restart under a new log id changes it, and hellos
    // compacted against the notices the peers hold stay small; the peers take the new one
    // during the session, and one new origin is well within maxLiveOriginsPerKey meanwhile.
    if (retired.holds(identity.peerId))
      this.ownNoticeDueAt = clock.now() + OWN_NOTICE_DEFER_REFRESHES * options.refreshMs
    else this.issueNotice(retired, localFeed)

    await node.handle(
      REPLICATION_PROTOCOL,
      (stream: Stream, connection: Connection) => this.onStream(stream, connection),
      { maxInboundStreams: 16, maxOutboundStreams: 16 },
    )
    const serveForwarded = this.components.serveForwarded
    await node.handle(
      FORWARD_PROTOCOL,
      (stream: Stream, connection: Connection) => {
        if (!serveForwarded || !this.links.has(connection.remotePeer.toString())) {
          stream.abort(new Error('this node serves no forwarded requests from this peer'))
          return
        }
        serveForwardStream(stream, serveForwarded).catch((error: unknown) =>
          this.logger.debug('a forwarded request failed', {
            peer: connection.remotePeer.toString(),
            error: (error as Error).message,
          }),
        )
      },
      { maxInboundStreams: 64, maxOutboundStreams: 64 },
    )
    node.addEventListener('peer:connect', (event) =>
      this.links.get(event.detail.toString())?.nudge(),
    )
    if (this.state !== 'starting') throw new NotRunningError(notRunningMessage('the fabric'))
    await node.start()
    for (const peer of peers)
      if (peer.addrs.length > 0) await node.peerStore.merge(peer.peerId, { multiaddrs: peer.addrs })

    this.unfollowEventFeed = this.followEventFeed(this.components.feed, localFeed)
    this.scheduleRefresh(localFeed, retired, options.refreshMs)
    if (this.state !== 'starting') throw new NotRunningError(notRunningMessage('the fabric'))
    this.state = 'running'
    for (const link of this.links.values()) link.start()
    this.logger.info('fabric started', {
      peerId: this.id,
      listen: this.listenAddresses(),
      peers: peers.length,
      privateNetwork: psk !== undefined,
    })
  }

  private onStream(stream: Stream, connection: Connection): void {
    const link = this.links.get(connection.remotePeer.toString())
    if (!link || this.state !== 'running') {
      // The gater admits only allowlisted peers; this guards the handler on its own too.
      stream.abort(new Error('not on the allowlist'))
      return
    }
    link.acceptInbound(stream)
  }

  /**
   * Live push: every batch that becomes durable here (local appends, and events that
   * reached the store by another path) goes from core's feed into the `LocalFeed`, which
   * offers it to the senders. Batches ingested from a peer of this fabric are skipped: its
   * receiver has added them already, naming the peer they came from.
   */
  private followEventFeed(eventFeed: EventFeed, localFeed: LocalFeed): () => void {
    const unsubscribe = eventFeed.subscribe((batch) => {
      if (batch.from === undefined || !this.links.has(batch.from)) localFeed.add(batch.events)
    })
    return () => {
      unsubscribe()
      localFeed.stop()
    }
  }

  private refuseUnknown(peer: PeerId, direction: 'inbound' | 'outbound'): boolean {
    const id = peer.toString()
    if (this.links.has(id)) return false
    const reason =
      direction === 'inbound'
        ? 'not on the allowlist: add its PeerId to the peers of this node to admit it'
        : 'a dialled address answered with a PeerId that is not on the allowlist'
    this.logger.warn('fabric peer refused', { peer: id, reason })
    this.components.taps.publish({
      kind: 'peer.refused',
      at: this.components.clock.now(),
      peer: id,
      reason,
    })
    return true
  }

  /**
   * Issues this node's retirement notice when it learned of origins of its key that are not
   * live (its own origin and, in a geo of several nodes, its members'), or the live ones changed.
   */
  private issueNotice(retired: RetiredOrigins, localFeed: LocalFeed): void {
    if (this.ownNoticeDueAt !== undefined) {
      const handshook = [...this.links.values()].every((link) => link.handshookBoth)
      if (!handshook && this.components.clock.now() < this.ownNoticeDueAt) return
      this.ownNoticeDueAt = undefined
    }
    const live = [this.components.nodeId, ...(this.components.liveOrigins?.() ?? [])]
    if (retired.issue(live, localFeed.known))
      this.logger.debug('retirement notice issued', {
        retired: retired.snapshot.retired.get(this.id)?.size ?? 0,
        digest: retired.snapshot.digests[this.id],
      })
  }

  private scheduleRefresh(localFeed: LocalFeed, retired: RetiredOrigins, every: number): void {
    this.cancelRefresh = this.components.clock.setTimer(every, () => {
      if (this.state === 'stopped') return
      localFeed
        .refresh()
        .then(() => this.issueNotice(retired, localFeed))
        .then(() => localFeed.prune([...this.links.values()].map((link) => link.vector)))
        .catch((error: unknown) =>
          this.logger.warn('could not refresh the version vector', { error }),
        )
        .finally(() => {
          if (this.state !== 'stopped') this.scheduleRefresh(localFeed, retired, every)
        })
    })
  }
}
