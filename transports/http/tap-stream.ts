// Tap events as server-sent events on a hijacked reply: the gateway's `/v1/taps` and the
// edge's `/edge/v1/taps` both stream this way.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Observable } from 'rxjs'
import type { TapEvent } from '../../core/index.js'

/** Unsent bytes past which a slow SSE client gets no more events until it drains. */
export const SSE_MAX_BUFFERED_BYTES = 1024 * 1024

/**
 * Streams `events` (those `wanted`) to the client as SSE. A slow or paused client must not
 * make the process buffer without bound: past SSE_MAX_BUFFERED_BYTES unsent, events are
 * dropped and their count is sent as `taps.dropped` once it drains. The stream ends when
 * the client goes, or when the `close` registered in `open` is called (at shutdown).
 */
export function streamTapEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  events: Observable<TapEvent>,
  options: {
    headers: Record<string, string>
    comment: string
    wanted?: (event: TapEvent) => boolean
    open: Set<() => void>
  },
): FastifyReply {
  reply.raw.writeHead(200, { ...options.headers, connection: 'keep-alive' })
  reply.raw.write(`: ${options.comment}\n\n`)
  let dropped = 0
  const subscription = events.subscribe((event) => {
    if (options.wanted && !options.wanted(event)) return
    if (reply.raw.writableLength > SSE_MAX_BUFFERED_BYTES) {
      dropped++
      return
    }
    if (dropped > 0) {
      reply.raw.write(`event: taps.dropped\ndata: ${JSON.stringify({ dropped })}\n\n`)
      dropped = 0
    }
    reply.raw.write(`event: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`)
  })
  const close = () => {
    subscription.unsubscribe()
    options.open.delete(close)
    reply.raw.end()
  }
  options.open.add(close)
  request.raw.on('close', close)
  return reply.hijack()
}
