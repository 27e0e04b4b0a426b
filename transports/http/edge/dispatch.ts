// One request to a geo on undici's dispatcher: a small answer of known length is gathered into
// one buffer (no stream is made for it), anything else streams with backpressure. Cheaper per
// request than `pool.request`, which builds a stream and a promise chain for every answer.
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'

/** A geo's answer: whole (`bytes`) or streaming (`stream`). */
export interface GeoAnswer {
  readonly statusCode: number
  readonly headers: IncomingHttpHeaders
  readonly bytes?: Buffer
  readonly stream?: Readable
}

/** Sends `options` on `dispatcher`; `onStart` receives a function that aborts the request. */
export function dispatchToGeo(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  bufferUpTo: number,
  onStart: (abort: (reason: Error) => void) => void,
): Promise<GeoAnswer> {
  return new Promise((resolve, reject) => {
    let statusCode = 0
    let headers: IncomingHttpHeaders = {}
    let chunks: Buffer[] | undefined
    let stream: Readable | undefined
    let settled = false
    dispatcher.dispatch(options, {
      onRequestStart(controller) {
        onStart((reason) => controller.abort(reason))
      },
      onResponseStart(controller, status, responseHeaders) {
        statusCode = status
        headers = responseHeaders
        const length = Number(responseHeaders['content-length'] ?? Number.NaN)
        if (length >= 0 && length <= bufferUpTo) {
          chunks = []
          return
        }
        stream = new Readable({ read: () => controller.resume() })
        settled = true
        resolve({ statusCode, headers, stream })
      },
      onResponseData(controller, chunk) {
        if (chunks) chunks.push(chunk)
        else if (stream && !stream.push(chunk)) controller.pause()
      },
      onResponseEnd() {
        if (stream) stream.push(null)
        else {
          settled = true
          resolve({ statusCode, headers, bytes: chunks ? Buffer.concat(chunks) : Buffer.alloc(0) })
        }
      },
      onResponseError(_controller, error) {
        if (stream) stream.destroy(error)
        if (!settled) {
          settled = true
          reject(error)
        }
      },
    })
  })
}
