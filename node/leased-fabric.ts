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
  /** How often the holder renews it (the membership heartbeat). */
  renewMs: number
  /** How often a node that does not hold it tries to take it (default `renewMs`). */
  tryMs?: number
}

export class LeasedFabric implements Fabric {
  private inner: Fabric | undefined
  /** When the last renewal that the store confirmed was sent (this node's clock). */
  private renewedAt = Number.NEGATIVE_INFINITY
  /** Whether this node should replicate: it holds the lease, surely. */
  private wanted = false
  private state: 'new' | 'running' | 'stopped' = 'new'
  private cancelRenewal: (() => void) | undefined
  private cancelDeadline: (() => void) | undefined
  private renewing: Promise<void> | undefined
  /** Starts and stops of the fabric, one after the other; never waited for by renewals. */
  private reconciling: Promise<void> = Promise.resolve()
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

  /**
   * Takes the lease if it is free and keeps trying. When this node takes it now, the fabric
   * has started once this resolves, and a fabric that cannot start (a peer address that does
   * not parse, a listen address in use) fails the start as it does on a node of its own.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'running'
    await this.renew()
    const first = this.reconcile()
    this.scheduleRenewal()
    await first
    if (!this.inner && this.firstFailure !== undefined) {
      const error = this.firstFailure as Error
      await this.stop()
      throw error
    }
    this.firstFailure = undefined
  }

  /** The error of the first start of the fabric, when it failed (rethrown by `start`). */
  private firstFailure: unknown

  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.wanted = false
    this.cancelRenewal?.()
    this.cancelDeadline?.()
    await this.renewing
    await this.reconcile()
    // Given up at once (the script checks the holder), so that another node takes over now,
    // not when the lease expires.
    await this.release()
  }

  private scheduleRenewal(): void {
    const every = this.wanted
      ? this.settings.renewMs
      : (this.settings.tryMs ?? this.settings.renewMs)
    this.cancelRenewal = this.components.clock.setTimer(every, () => {
      if (this.state !== 'running') return
      void this.renew()
        .then(() => this.reconcile())
        .catch((error: unknown) => this.logger.error('the replicator lease failed', { error }))
        .finally(() => this.state === 'running' && this.scheduleRenewal())
    })
  }

  /** One renewal: take or renew the lease; while held, a deadline gives it up unless renewed. */
  private renew(): Promise<void> {
    this.renewing = (async () => {
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
      if (this.state !== 'running') return
      if (held) {
        this.renewedAt = sentAt
        this.wanted = true
        // The lease holds until sentAt + ttl at the latest: stop the fabric by then, renewal or not.
        this.cancelDeadline?.()
        const left = sentAt + this.settings.ttlMs - clock.now()
        this.cancelDeadline = clock.setTimer(Math.max(0, left), () => {
          if (this.state !== 'running' || clock.now() - this.renewedAt < this.settings.ttlMs) return
          this.wanted = false
          void this.reconcile('the lease could not be renewed within its ttl')
        })
      } else if (held === false) this.wanted = false
    })()
    return this.renewing
  }

  /** Starts or stops the fabric to match `wanted`, after any start or stop under way. */
  private reconcile(why = 'another node of the geo holds the replicator lease'): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      if (this.wanted && !this.inner && this.state === 'running') await this.take()
      else if (!this.wanted && this.inner)
        await this.giveUp(this.state === 'stopped' ? 'the node is stopping' : why)
    })
    return this.reconciling
  }

  private async take(): Promise<void> {
    let fabric: Fabric | undefined
    try {
      fabric = this.components.create()
      await fabric.start()
    } catch (error) {
      this.firstFailure ??= error
      this.logger.error('could not start the fabric; giving the replicator lease up', { error })
      this.wanted = false
      await fabric?.stop().catch(() => undefined)
      await this.release()
      return
    }
    if (!this.wanted || this.state !== 'running') {
      await fabric.stop().catch(() => undefined)
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

  private async release(): Promise<void> {
    await this.components.lease
      .releaseLease(REPLICATOR_ROLE, this.components.nodeId)
      .catch((error: unknown) =>
        this.logger.debug('could not release the replicator lease', { error }),
      )
  }
}
