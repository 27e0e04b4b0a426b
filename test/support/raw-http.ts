// One HTTP/1.1 exchange on a raw socket, for requests fetch cannot send (no Host, bad framing,
// garbage tokens, dripped bytes), and a tolerant parser of what the server answered.
import { connect } from 'node:net'

export interface RawExchange {
  /** Bytes to write, in order; `gapMs` apart when set. */
  chunks: readonly Buffer[]
  gapMs?: number
  /** Gives up (and closes the socket) after this long without the server closing. */
  waitMs: number
}

export interface RawAnswer {
  /** Everything the server sent. */
  bytes: Buffer
  /** The server closed (or reset) the connection before `waitMs`. */
  closed: boolean
  ms: number
}

/** Sends `chunks` to 127.0.0.1:`port` and collects the answer until close or `waitMs`. */
export function rawExchange(port: number, exchange: RawExchange): Promise<RawAnswer> {
  const started = Date.now()
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let done = false
    let gapTimer: NodeJS.Timeout | undefined
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearTimeout(gapTimer)
      socket.destroy()
      resolve({ bytes: Buffer.concat(received), closed, ms: Date.now() - started })
    }
    const timer = setTimeout(() => finish(false), exchange.waitMs)
    socket.on('data', (data: Buffer) => received.push(data))
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(true))
    // A reset after the server answered is how Node closes some refused requests.
    socket.on('error', () => finish(true))
    socket.on('connect', () => {
      let i = 0
      const next = () => {
        if (done || socket.destroyed || i >= exchange.chunks.length) return
        socket.write(exchange.chunks[i++]!)
        if (exchange.gapMs) gapTimer = setTimeout(next, exchange.gapMs)
        else next()
      }
      next()
    })
  })
}

export interface ParsedResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Parses the first response in `bytes` (Content-Length, chunked or read-to-close); undefined if none. */
export function parseFirstResponse(bytes: Buffer): ParsedResponse | undefined {
  const text = bytes.toString('latin1')
  const headEnd = text.indexOf('\r\n\r\n')
  if (headEnd < 0) return undefined
  const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n')
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (!match) return undefined
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let rest = bytes.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), 'latin1'))
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') rest = dechunk(rest)
  else if (headers['content-length'] !== undefined)
    rest = rest.subarray(0, Number(headers['content-length']))
  return { status: Number(match[1]), headers, body: rest.toString('utf8') }
}

function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16)
    if (!Number.isFinite(size) || size === 0) break
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}
