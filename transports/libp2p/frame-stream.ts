import type { Stream } from '@libp2p/interface'
import { FrameError } from '../../core/index.js'
import { decodeFrame, encodeFrame, FrameDecoder, MAX_FRAME_BYTES, type Frame } from './frames.js'
import { onAbort, throwIfAborted } from '../../support/abort.js'
import { thinWindowUpdates } from './window-updates.js'

/** Frames smaller than this are gathered into one write (trap 4: yamux costs per write). */
export const COALESCE_BYTES = 64 * 1024

/** What a `FrameStream` reports to its owner. */
export interface FrameStreamHandlers {
  /** A decoded, validated frame. Called synchronously, in order. */
  onFrame(frame: Frame, bytes: number): void
  /** The stream ended: `error` is set when it was a decode or validation failure or a reset. */
  onClose(error: Error | undefined, rejected: boolean): void
}

/**
 * Frames over one libp2p stream: an incremental length-prefixed reader that validates each
 * frame before handing it on, and a writer that coalesces small frames and lets the caller
 * wait for the `drain` event (trap 1: never trust `onDrain()`).
 */
export class FrameStream {
  private readonly decoder: FrameDecoder
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private flushScheduled = false
  private closed = false
  private drainWaiters: Array<() => void> = []
  private readonly onMessage: (event: Event) => void
  private readonly onDrain: () => void
  private readonly onStreamClose: (event: Event) => void
  private readonly onRemoteCloseWrite: () => void

  constructor(
    readonly stream: Stream,
    private readonly handlers: FrameStreamHandlers,
    maxFrameBytes = MAX_FRAME_BYTES,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes)
    // One yamux window update per half window received, not one per frame (window-updates.ts).
    thinWindowUpdates(stream)
    this.onMessage = (event) => this.receive((event as Event & { data: Chunks }).data)
    this.onDrain = () => this.releaseDrainWaiters()
    this.onStreamClose = (event) => this.finish((event as Event & { error?: Error }).error, false)
    this.onRemoteCloseWrite = () => this.finish(undefined, false)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('drain', this.onDrain)
    stream.addEventListener('close', this.onStreamClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    if (stream.status !== 'open') queueMicrotask(() => this.finish(undefined, false))
  }

  /** True once the stream has ended for any reason. */
  get isClosed(): boolean {
    return this.closed
  }

  /** True when the transport asked the writer to wait for `drain`. */
  get needsDrain(): boolean {
    return this.stream.writableNeedsDrain
  }

  /** Queues a frame; small frames are sent together at the end of this turn of the event loop. */
  write(frame: Frame): number {
    const bytes = encodeFrame(frame)
    this.writeEncoded(bytes)
    return bytes.byteLength
  }

  /** Queues an already encoded frame. */
  writeEncoded(bytes: Uint8Array): void {
    if (this.closed) return
    this.pending.push(bytes)
    this.pendingBytes += bytes.byteLength
    if (this.pendingBytes >= COALESCE_BYTES) this.flush()
    else if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    if (this.closed || this.pendingBytes === 0) return
    const data =
      this.pending.length === 1 ? this.pending[0]! : concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    try {
      this.stream.send(data)
    } catch (error) {
      this.abort(error as Error)
    }
  }

  /** Resolves when the writer may send again (after `drain`), or when the stream closed. */
  async writable(signal?: AbortSignal): Promise<void> {
    if (this.closed || !this.stream.writableNeedsDrain) return
    const what = 'waiting for the fabric stream to drain'
    throwIfAborted(signal, what)
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        stopListening()
        resolve()
      }
      this.drainWaiters.push(done)
      const stopListening = onAbort(signal, what, (error) => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== done)
        reject(error)
      })
    })
  }

  /** Flushes, then closes the write side gracefully. */
  async close(): Promise<void> {
    this.flush()
    if (this.closed) return
    try {
      await this.stream.close({ signal: AbortSignal.timeout(2_000) })
    } catch (error) {
      this.stream.abort(error as Error)
    }
    this.finish(undefined, false)
  }

  /** Resets the stream at once. */
  abort(error: Error): void {
    this.finish(error, false)
    if (this.stream.status === 'open' || this.stream.status === 'closing') this.stream.abort(error)
  }

  private receive(data: Chunks): void {
    if (this.closed) return
    if (data instanceof Uint8Array) this.decoder.push(data)
    else for (const chunk of data) this.decoder.push(chunk)
    try {
      for (;;) {
        const body = this.decoder.next()
        if (!body) return
        const frame = decodeFrame(body)
        this.handlers.onFrame(frame, body.byteLength)
        if (this.closed) return
      }
    } catch (error) {
      const reason = error instanceof Error ? error : new FrameError(String(error))
      // Report the rejection first: aborting dispatches 'close', which would report a plain reset.
      this.finish(reason, true)
      if (this.stream.status === 'open' || this.stream.status === 'closing')
        this.stream.abort(reason)
    }
  }

  private finish(error: Error | undefined, rejected: boolean): void {
    if (this.closed) return
    this.closed = true
    this.pending = []
    this.pendingBytes = 0
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('drain', this.onDrain)
    this.stream.removeEventListener('close', this.onStreamClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.releaseDrainWaiters()
    if (this.stream.status === 'open' && !error) {
      // Half-closed streams still count against the stream limit (trap 6): close our side too.
      this.stream.close().catch((e: unknown) => this.stream.abort(e as Error))
    }
    this.handlers.onClose(error, rejected)
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const waiter of waiters) waiter()
  }
}

type Chunks = Uint8Array | Iterable<Uint8Array>

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}
