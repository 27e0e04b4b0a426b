// The fabric of a geo of several nodes: one node at a time replicates for the whole geo, the
// holder of the geo's `replicator` lease in its Redis. Every node tries to take the lease on
// each heartbeat; the holder renews it, runs the fabric under the geo's shared key (so the
// other geos see one PeerId whichever node it is) and stops it as soon as it can no longer
// be sure it holds the lease. When the holder dies the lease expires and another node takes
// it within the membership timeout plus a heartbeat. See docs/fabric.md.
import {
  NotRunningError,
  type AbortOptions,
  type Clock,
  type Fabric,
  type FabricStatus,
  type ForwardedRequest,
  type ForwardedResponse,
  type Logger,
  type RoleLease,
  type Taps,
} from '../core/index.js'

/** The lease's role name in the geo's store. */
export const REPLICATOR_ROLE = 'replicator'

export interface LeasedFabricComponents {
  /** This node's id: the lease's holder name. */
  nodeId: string
  /** The geo's fabric identity (the same on every node). */
  peerId: string
  lease: RoleLease
  /** A new fabric each time this node takes the lease (a stopped one never starts again). */
  create: () => Fabric
  clock: Clock
  logger: Logger
  taps: Taps
}

export interface LeasedFabricSettings {
  /** How long the lease holds without renewal (the membership timeout). */
  ttlMs: number
  /** How often each node tries to take or renew it (the membership heartbeat). */
  renewMs: number
}

export class LeasedFabric implements Fabric {
  private inner: Fabric | undefined
  /** When the last renewal that the store confirmed was sent (this node's clock). */
  private renewedAt = Number.NEGATIVE_INFINITY
  private running = false
  private cancelTimer: (() => void) | undefined
  private ticking: Promise<void> | undefined
  private readonly logger: Logger

  constructor(
    private readonly components: LeasedFabricComponents,
    private readonly settings: LeasedFabricSettings,
  ) {
    this.logger = components.logger.child({ component: 'fabric' })
  }

  get peerId(): string {
    return this.components.peerId
  }

  /** True while this node replicates for the geo. */
  get replicating(): boolean {
    return this.inner !== undefined
  }

  listenAddresses(): string[] {
    return this.inner?.listenAddresses() ?? []
  }

  status(): FabricStatus {
    return this.inner?.status() ?? { peerId: this.peerId, listen: [], peers: [] }
  }

  forward(
    peerId: string,
    request: ForwardedRequest,
    options?: AbortOptions,
  ): Promise<ForwardedResponse> {
    const forward = this.inner?.forward?.bind(this.inner)
    if (!forward)
      return Promise.reject(
        new NotRunningError(
          'this node does not replicate for the geo now: requests are forwarded to other geos by the node that does',
        ),
      )
    return forward(peerId, request, options)
  }

  /** Takes the lease if it is free (a lone node replicates once this resolves) and keeps trying. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.tick()
    this.schedule()
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.cancelTimer?.()
    await this.ticking
    const replicated = this.inner !== undefined
    await this.giveUp('the node is stopping')
    // Released at once so that another node takes over now, not after the lease expires.
    if (replicated)
      await this.components.lease
        .releaseLease(REPLICATOR_ROLE, this.components.nodeId)
        .catch((error: unknown) =>
          this.logger.debug('could not release the replicator lease', { error }),
        )
  }

  private schedule(): void {
    this.cancelTimer = this.components.clock.setTimer(this.settings.renewMs, () => {
      if (!this.running) return
      void this.tick().finally(() => this.running && this.schedule())
    })
  }

  /** One heartbeat: take or renew the lease, then start or stop the fabric to match. */
  private tick(): Promise<void> {
    this.ticking = (async () => {
      const { lease, nodeId, clock } = this.components
      const sentAt = clock.now()
      let held: boolean | undefined
      try {
        held = await lease.holdLease(REPLICATOR_ROLE, nodeId, this.settings.ttlMs)
      } catch (error) {
        this.logger.warn('could not take or renew the replicator lease', {
          error: (error as Error).message,
        })
      }
      if (!this.running) return
      if (held) this.renewedAt = sentAt
      // Unsure (the store did not answer) counts as held until the lease may have expired.
      const sure = clock.now() - this.renewedAt < this.settings.ttlMs
      if (held && !this.inner) await this.take()
      else if (this.inner && (held === false || !sure))
        await this.giveUp(
          held === false
            ? 'another node of the geo holds the replicator lease'
            : 'the lease could not be renewed within its ttl',
        )
    })()
    return this.ticking
  }

  private async take(): Promise<void> {
    const fabric = this.components.create()
    try {
      await fabric.start()
    } catch (error) {
      this.logger.error('could not start the fabric; giving the replicator lease up', { error })
      await fabric.stop().catch(() => undefined)
      await this.components.lease
        .releaseLease(REPLICATOR_ROLE, this.components.nodeId)
        .catch(() => undefined)
      return
    }
    if (!this.running) {
      await fabric.stop()
      return
    }
    this.inner = fabric
    this.logger.info('this node replicates for the geo', { peerId: this.peerId })
    this.components.taps.publish({
      kind: 'replicator.changed',
      at: this.components.clock.now(),
      nodeId: this.components.nodeId,
      replicating: true,
    })
  }

  private async giveUp(why: string): Promise<void> {
    const fabric = this.inner
    if (!fabric) return
    this.inner = undefined
    this.logger.info('this node stops replicating for the geo', { why })
    await fabric
      .stop()
      .catch((error: unknown) => this.logger.warn('stopping the fabric failed', { error }))
    this.components.taps.publish({
      kind: 'replicator.changed',
      at: this.components.clock.now(),
      nodeId: this.components.nodeId,
      replicating: false,
    })
  }
}
