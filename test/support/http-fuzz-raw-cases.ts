// The raw-socket half of the gateway fuzzer's cases: malformed framing, garbage tokens,
// missing or duplicated headers, dripped and abandoned requests.
import type { SeededRandom } from './seeded-random.js'

/** Ids the fuzzer writes to; any other actor (a witness) must stay untouched. */
export const FUZZ_ID_PREFIX = 'fz'

export interface FetchStep {
  kind: 'fetch'
  /** `optional`: a body over the limit, which the server may refuse by closing mid-upload. */
  answer: 'required' | 'optional'
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Uint8Array
}

export interface RawStep {
  kind: 'raw'
  /** The method as sent (HEAD answers have no body). */
  method: string
  chunks: readonly Buffer[]
  gapMs?: number
  waitMs: number
  /** `required`: the server must answer; `optional`: it may close or stay silent (e.g. a half-sent request). */
  answer: 'required' | 'optional'
}

export interface FuzzCase {
  label: string
  steps: Array<FetchStep | RawStep>
}

/** Tokens fetch refuses to send: raw sockets only. */
const GARBAGE_METHODS = [
  'G@T',
  'get',
  'POST POST',
  '',
  'P\u00d6ST',
  'CONNECT',
  'TRACE',
  'A'.repeat(300),
]
const CRLF = '\r\n'

/** Raw request text with the given parts; `Connection: close` so the answer ends with the socket. */
function rawRequest(method: string, path: string, headers: string[], body = ''): Buffer {
  return Buffer.from(
    `${method} ${path} HTTP/1.1${CRLF}${[...headers, 'Connection: close'].join(CRLF)}${CRLF}${CRLF}${body}`,
    'latin1',
  )
}

/** A malformed or oddly paced request on a raw socket; `path` is a random path of the run. */
export function rawCase(rng: SeededRandom, index: number, path: string): FuzzCase {
  const body = '{"by":1}'
  const host = 'Host: 127.0.0.1'
  const post = `/v1/actors/counter/${FUZZ_ID_PREFIX}${rng.int(0, 7)}/increment`
  const raw = (label: string, chunks: Buffer[], extra: Partial<RawStep> = {}): FuzzCase => ({
    label: `#${index} raw ${label}`,
    steps: [{ kind: 'raw', method: 'POST', chunks, waitMs: 5_000, answer: 'required', ...extra }],
  })
  switch (rng.int(0, 13)) {
    case 0: {
      const method = rng.pick(['GET', 'POST', 'HEAD'])
      return raw(`${method} without Host`, [rawRequest(method, path, [])], { method })
    }
    case 1: {
      const method = rng.pick(GARBAGE_METHODS)
      return raw(`method '${method.slice(0, 20)}'`, [rawRequest(method, path, [host])])
    }
    case 2: {
      const length = rng.pick(['abc', '-1', '1e3', '', ' 8', '8, 9', '99999999999999999999'])
      return raw(`content-length '${length}'`, [
        rawRequest('POST', post, [host, `Content-Length: ${length}`], body),
      ])
    }
    case 3:
      return raw('two content-lengths', [
        rawRequest('POST', post, [host, 'Content-Length: 8', 'Content-Length: 9'], body),
      ])
    case 4:
      return raw('content-length and chunked', [
        rawRequest(
          'POST',
          post,
          [host, 'Content-Length: 8', 'Transfer-Encoding: chunked'],
          `8${CRLF}${body}${CRLF}0${CRLF}${CRLF}`,
        ),
      ])
    case 5:
      return raw('bad chunk', [
        rawRequest(
          'POST',
          post,
          [host, 'Transfer-Encoding: chunked'],
          `zz${CRLF}${body}${CRLF}0${CRLF}${CRLF}`,
        ),
      ])
    case 6:
      return raw(
        'huge header',
        [
          rawRequest('GET', '/healthz', [
            host,
            `X-Big: ${'b'.repeat(rng.pick([8_000, 17_000, 70_000]))}`,
          ]),
        ],
        { method: 'GET' },
      )
    case 7:
      return raw(
        'header without colon',
        [
          rawRequest('GET', '/healthz', [
            host,
            rng.pick(['NoColon', 'X-A\u0000: 1', ' X-Folded: 1', 'X-Ctl: a\u0001b']),
          ]),
        ],
        { method: 'GET' },
      )
    case 8:
      return raw(
        'version',
        [
          Buffer.from(
            `GET /healthz ${rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1', ''])}${CRLF}${host}${CRLF}Connection: close${CRLF}${CRLF}`,
          ),
        ],
        { method: 'GET' },
      )
    case 9:
      return raw(
        'junk path',
        [
          rawRequest(
            'GET',
            rng.pick([
              path,
              '/v1/actors/counter/a b',
              '/v1/actors/counter/\u00ff\u00fe',
              '*',
              'http://evil/healthz',
              '/v1/actors/counter/%2e%2e/%2e%2e',
            ]),
            [host],
          ),
        ],
        { method: 'GET' },
      )
    case 10:
      // Headers then body dripped a few bytes at a time, finished well within the request timeout.
      return raw(
        'dripped request',
        chunksOf(
          rawRequest(
            'POST',
            post,
            [host, 'Content-Type: application/json', `Content-Length: ${body.length}`],
            body,
          ),
          7,
        ),
        { gapMs: 5 },
      )
    case 11:
      // A client that promises more body than it sends, then goes quiet: the server may wait.
      return raw(
        'short body',
        [rawRequest('POST', post, [host, `Content-Length: ${body.length + 100}`], body)],
        { waitMs: 300, answer: 'optional' },
      )
    case 12:
      // Half a request line, then silence.
      return raw('half request', [Buffer.from('POST /v1/act')], { waitMs: 200, answer: 'optional' })
    default:
      return raw('duplicated headers', [
        rawRequest(
          'POST',
          post,
          [
            host,
            host,
            'Content-Type: application/json',
            'Content-Type: text/plain',
            `Content-Length: ${body.length}`,
            `Idempotency-Key: a`,
            'Idempotency-Key: b',
          ],
          body,
        ),
      ])
  }
}

function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return chunks
}
