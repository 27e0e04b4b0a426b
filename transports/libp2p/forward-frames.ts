// The frames of `/anywhere/forward/1`: one request, one response, each length-prefixed msgpack,
// scanned for counts and depth before they are decoded and validated by zod before use.
import { Decoder, Encoder } from '@msgpack/msgpack'
import { z } from 'zod'
import {
  FrameError,
  issuesText,
  type ForwardedRequest,
  type ForwardedResponse,
} from '../../core/index.js'
import { FRAME_HEADER_BYTES } from './frames.js'
import { FrameScanner } from './frame-scan.js'

/** The libp2p protocol id of request forwarding between geos. */
export const FORWARD_PROTOCOL = '/anywhere/forward/1'

/** Largest body forwarded either way (the gateway's largest accepted body is 64 MiB; forwarding is for ordinary commands). */
export const MAX_FORWARD_BODY_BYTES = 1024 * 1024
/** Largest forward frame: a body and its envelope. */
export const MAX_FORWARD_FRAME_BYTES = MAX_FORWARD_BODY_BYTES + 64 * 1024
/** Longest forwarded path (with its query). */
export const MAX_FORWARD_PATH_LENGTH = 4096
/** Most headers in a forward frame, and the longest value of one. */
export const MAX_FORWARD_HEADERS = 16
export const MAX_FORWARD_HEADER_LENGTH = 8192

/** Request headers that travel: the ones that change how the receiving gateway serves it. */
export const FORWARDED_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'x-forwarded-for',
] as const
/** Response headers that travel back. */
export const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'idempotent-replayed',
  'retry-after',
  'www-authenticate',
  'x-anywhere-event-count',
  'x-anywhere-last-event',
  'x-anywhere-geo',
] as const

const scanner = new FrameScanner({
  maxContainerEntries: MAX_FORWARD_HEADERS,
  maxDepth: 4,
  maxVectorEntries: 0,
  maxEvents: 0,
  eventFields: 0,
})

const headers = (names: readonly string[]) =>
  z
    .partialRecord(
      z.enum(names as [string, ...string[]]),
      z.string().max(MAX_FORWARD_HEADER_LENGTH),
    )
    .refine((h) => Object.keys(h).length <= MAX_FORWARD_HEADERS)
const body = z.instanceof(Uint8Array).refine((b) => b.byteLength <= MAX_FORWARD_BODY_BYTES, {
  message: `a forwarded body is at most ${MAX_FORWARD_BODY_BYTES} bytes`,
})

const requestSchema = z
  .object({
    t: z.literal('request'),
    method: z.enum(['GET', 'HEAD', 'POST']),
    path: z.string().min(1).max(MAX_FORWARD_PATH_LENGTH).startsWith('/'),
    headers: headers(FORWARDED_REQUEST_HEADERS),
    body: body.optional(),
  })
  .strict()

const responseSchema = z
  .object({
    t: z.literal('response'),
    status: z.number().int().min(100).max(599),
    headers: headers(FORWARDED_RESPONSE_HEADERS),
    body,
  })
  .strict()

const encoder = new Encoder({ ignoreUndefined: true, maxDepth: 4 })
const decoder = new Decoder({
  maxStrLength: MAX_FORWARD_FRAME_BYTES,
  maxBinLength: MAX_FORWARD_FRAME_BYTES,
  maxArrayLength: MAX_FORWARD_HEADERS,
  maxMapLength: MAX_FORWARD_HEADERS,
  maxExtLength: 0,
})

/** The request as a length-prefixed frame. */
export function encodeForwardRequest(request: ForwardedRequest): Uint8Array {
  return frame({
    t: 'request',
    ...request,
    headers: pick(request.headers, FORWARDED_REQUEST_HEADERS),
  })
}

/** The response as a length-prefixed frame. */
export function encodeForwardResponse(response: ForwardedResponse): Uint8Array {
  return frame({
    t: 'response',
    ...response,
    headers: pick(response.headers, FORWARDED_RESPONSE_HEADERS),
  })
}

/** Only the headers that travel (and no value too long): a peer would refuse the frame otherwise. */
function pick(
  headers: Readonly<Record<string, string>>,
  names: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of names) {
    const value = headers[name]
    if (value !== undefined && value.length <= MAX_FORWARD_HEADER_LENGTH) out[name] = value
  }
  return out
}

/** Decodes and validates a request frame's body; throws `FrameError` with the reason. */
export function decodeForwardRequest(bytes: Uint8Array): ForwardedRequest {
  const { t: _t, headers, ...request } = decode(bytes, requestSchema, 'request')
  // A partial record: every key present holds a string.
  return { ...request, headers: headers as Record<string, string> }
}

/** Decodes and validates a response frame's body; throws `FrameError` with the reason. */
export function decodeForwardResponse(bytes: Uint8Array): ForwardedResponse {
  const { t: _t, headers, ...response } = decode(bytes, responseSchema, 'response')
  return { ...response, headers: headers as Record<string, string> }
}

function frame(value: object): Uint8Array {
  const encoded = encoder.encodeSharedRef(value)
  if (encoded.byteLength > MAX_FORWARD_FRAME_BYTES)
    throw new FrameError(`a forward frame of ${encoded.byteLength} bytes is over the limit`)
  const out = new Uint8Array(FRAME_HEADER_BYTES + encoded.byteLength)
  new DataView(out.buffer).setUint32(0, encoded.byteLength)
  out.set(encoded, FRAME_HEADER_BYTES)
  return out
}

function decode<S extends z.ZodType>(bytes: Uint8Array, schema: S, what: string): z.output<S> {
  scanner.scan(bytes)
  let value: unknown
  try {
    value = decoder.decode(bytes)
  } catch (error) {
    throw new FrameError(`a forward ${what} is not valid msgpack: ${(error as Error).message}`, {
      cause: error,
    })
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success)
    throw new FrameError(
      `a forward ${what} failed validation: ${issuesText(parsed.error.issues, 3)}`,
      { cause: parsed.error },
    )
  return parsed.data
}
