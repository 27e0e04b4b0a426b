// Reads an answer's body with a bound on its size: a hostile or broken server (or a proxy in
// front of the node) cannot make the client buffer without limit.
import { ResponseTooLargeError } from './errors.js'

/** Largest answer body a client reads unless configured otherwise: 16 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

/** `maxResponseBytes` as given, or a TypeError naming the option. */
export function maxResponseBytesOf(value: number | undefined, field: string): number {
  if (value === undefined) return DEFAULT_MAX_RESPONSE_BYTES
  if (!Number.isSafeInteger(value) || value < 1)
    throw new TypeError(`${field} must be a positive integer (bytes), got ${String(value)}`)
  return value
}

/**
 * The body of `response` as text, read chunk by chunk and abandoned (the stream cancelled) as
 * soon as it passes `maxBytes`; a `content-length` over it is refused before reading at all.
 */
export async function readBoundedBody(response: Response, maxBytes: number): Promise<string> {
  const tooLarge = (seen: string) =>
    new ResponseTooLargeError(
      `the answer (HTTP ${response.status}) is larger than maxResponseBytes (${maxBytes} bytes): ${seen}; it was not read further`,
      { status: response.status, limitBytes: maxBytes },
    )
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge(`it declares ${declared} bytes`)
  }
  if (!response.body) {
    // A fetch without body streams (some polyfills): the bound holds only after the read.
    const text = await response.text()
    if (new TextEncoder().encode(text).byteLength > maxBytes) throw tooLarge('it was longer')
    return text
  }
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let received = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    received += value.byteLength
    if (received > maxBytes) {
      await reader.cancel().catch(() => {})
      throw tooLarge(`${received} bytes received so far`)
    }
    text += decoder.decode(value, { stream: true })
  }
}
