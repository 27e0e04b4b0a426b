// `/anywhere/forward/1`: one stream per forwarded request, one request frame in, one response
// frame out. The receiving side serves it as its own (never forwarding it again: one hop).
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import {
  AbortedError,
  FrameError,
  type AbortOptions,
  type ForwardedRequest,
  type ForwardedResponse,
} from '../../core/index.js'
import { FrameDecoder } from './frames.js'
import {
  FORWARD_PROTOCOL,
  MAX_FORWARD_FRAME_BYTES,
  decodeForwardRequest,
  decodeForwardResponse,
  encodeForwardRequest,
  encodeForwardResponse,
} from './forward-frames.js'

/** How long either side waits for the other's frame. */
export const FORWARD_TIMEOUT_MS = 30_000

/** Reads one whole frame body from `stream` (bounded), or rejects on timeout, abort or end. */
function readOneFrame(
  stream: Stream,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const decoder = new FrameDecoder(MAX_FORWARD_FRAME_BYTES)
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (error: Error | undefined, body?: Uint8Array) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (error) reject(error)
      else resolve(body!)
    }
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }) => {
      try {
        if (event.data instanceof Uint8Array) decoder.push(event.data)
        else for (const chunk of event.data) decoder.push(chunk)
        const body = decoder.next()
        if (body) finish(undefined, body)
      } catch (error) {
        finish(error as Error)
      }
    }
    const onClose = () => finish(new FrameError('the forward stream ended before a whole frame'))
    const onAbort = () => finish(new AbortedError('forwarding the request was aborted'))
    const timer = setTimeout(
      () => finish(new FrameError(`no forward frame within ${timeoutMs} ms`)),
      timeoutMs,
    )
    stream.addEventListener('message', onMessage as never)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * Serves one inbound forward stream: reads the request (bounded, validated), lets `serve`
 * answer it, writes the answer and closes. A bad frame aborts the stream; nothing else breaks.
 */
export async function serveForwardStream(
  stream: Stream,
  serve: (request: ForwardedRequest) => Promise<ForwardedResponse>,
  timeoutMs = FORWARD_TIMEOUT_MS,
): Promise<void> {
  try {
    const request = decodeForwardRequest(await readOneFrame(stream, timeoutMs))
    const response = await serve(request)
    stream.send(encodeForwardResponse(response))
    await stream.close()
  } catch (error) {
    stream.abort(error as Error)
    throw error
  }
}

/** Sends `request` to `peer` over a new forward stream and resolves with its answer. */
export async function forwardRequest(
  node: Libp2p,
  peer: PeerId,
  request: ForwardedRequest,
  options: AbortOptions & { timeoutMs?: number } = {},
): Promise<ForwardedResponse> {
  const timeoutMs = options.timeoutMs ?? FORWARD_TIMEOUT_MS
  const stream = await node.dialProtocol(peer, FORWARD_PROTOCOL, {
    signal: options.signal ?? AbortSignal.timeout(timeoutMs),
  })
  try {
    const answer = readOneFrame(stream, timeoutMs, options.signal)
    stream.send(encodeForwardRequest(request))
    await stream.close()
    return decodeForwardResponse(await answer)
  } catch (error) {
    stream.abort(error as Error)
    throw error
  }
}

export { FORWARD_PROTOCOL }
