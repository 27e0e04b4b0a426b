import type {
  Clock,
  EventLog,
  LoadReport,
  Logger,
  Readiness,
  ReadinessState,
  Startable,
} from '../../core/index.js'
import type { OverloadOptions } from './options.js'

/** Where a node is in its life, as far as taking writes goes. */
export type NodePhase = 'starting' | 'serving' | 'draining'

export interface NodeReadinessComponents {
  clock: Clock
  /** Probed (its version vector) to tell it answers. */
  store: Pick<EventLog, 'versionVector'>
  /** The overload detector's last report. */
  load(): LoadReport
  /** Told when the store stops answering its probe in time, and when it answers again. */
  logger?: Logger
}

/**
 * Whether this node can take writes now: serving (not starting nor draining), its store
 * answering a probe within `storeProbeTimeoutMs`, and not overloaded. `state()` never waits:
 * the store is probed in the background every `storeProbeMs`.
 */
export class NodeReadiness implements Readiness, Startable {
  private phase: NodePhase = 'starting'
  private storeAnswering = true
  private cancelTimer: (() => void) | undefined
  private running = false

  constructor(
    private readonly options: Pick<OverloadOptions, 'storeProbeMs' | 'storeProbeTimeoutMs'>,
    private readonly components: NodeReadinessComponents,
  ) {}

  /** Moves the node to `phase` (the node calls it as it starts and stops). */
  enter(phase: NodePhase): void {
    this.phase = phase
  }

  state(): ReadinessState {
    const load = this.components.load()
    if (this.phase !== 'serving') return { ready: false, reason: this.phase, load }
    if (!this.storeAnswering) return { ready: false, reason: 'store-unavailable', load }
    if (load.overloaded) return { ready: false, reason: 'overloaded', load }
    return { ready: true, load }
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.schedule()
  }

  async stop(): Promise<void> {
    this.running = false
    this.cancelTimer?.()
    this.cancelTimer = undefined
  }

  /** Asks the store once; resolves with whether it answered in time. */
  async probeStore(): Promise<boolean> {
    const { clock, store } = this.components
    const controller = new AbortController()
    let cancel: (() => void) | undefined
    let failure: unknown
    const timedOut = new Promise<false>((resolve) => {
      cancel = clock.setTimer(this.options.storeProbeTimeoutMs, () => {
        failure = `no answer within ${this.options.storeProbeTimeoutMs} ms (storeProbeTimeoutMs)`
        controller.abort()
        resolve(false)
      })
    })
    const answered = store.versionVector({ signal: controller.signal }).then(
      () => true,
      (error: unknown) => {
        failure ??= error instanceof Error ? error.message : String(error)
        return false
      },
    )
    let answering: boolean
    try {
      answering = await Promise.race([answered, timedOut])
    } finally {
      cancel?.()
    }
    if (answering !== this.storeAnswering)
      if (answering) this.components.logger?.info('the store answers its probe again')
      else
        this.components.logger?.warn('the store failed its probe: not ready', {
          error: failure,
        })
    this.storeAnswering = answering
    return answering
  }

  private schedule(): void {
    this.cancelTimer = this.components.clock.setTimer(this.options.storeProbeMs, () => {
      if (!this.running) return
      void this.probeStore().finally(() => {
        if (this.running) this.schedule()
      })
    })
  }
}
