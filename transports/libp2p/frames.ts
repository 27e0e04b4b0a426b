import { Decoder, Encoder } from '@msgpack/msgpack'
import { z } from 'zod'
import {
  FrameError,
  issuesText,
  MAX_EVENT_PAYLOAD_BYTES,
  MAX_NAME_LENGTH,
  PayloadTooLargeError,
  type EventRecord,
  type VersionVector,
  tooLargeMessage,
  type GeoAdvert,
} from '../../core/index.js'
import {
  attachSigs,
  EVENT_WIRE_FIELDS,
  EventWireCache,
  eventWireSchema,
  sigsOf,
  sigWireSchema,
} from './event-wire.js'
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from './frame-decoder.js'
import { FrameScanner } from './frame-scan.js'

export { FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_BYTES } from './frame-decoder.js'

/**
 * The libp2p protocol id of replication. It stays while `hello` can say which version each
 * side speaks, so that a node of another version gets a refusal that names the fix.
 */
export const REPLICATION_PROTOCOL = '/anywhere/replicate/1'

/**
 * The version both sides announce in `hello`; a peer announcing another one is refused.
 * 2: events signed by their origin, paged hello vectors, acks that carry what advanced.
 * 3: an event is the array its signature covers (`event-wire.ts`), signatures travel in
 *    the frame's `sigs`; acks are cumulative and rate-limited.
 * 4: retirement notices (`notice` frames); a hello may leave out the shared base of retired
 *    origins (`base`, its digest).
 */
export const PROTOCOL_VERSION = 4

/**
 * Deepest event payload a frame carries (a scalar is 0 deep, `{ a: [1] }` is 2). It is
 * above core's emit-time `MAX_PAYLOAD_DEPTH` (32) and above what the msgpack stores hold
 * (msgpack's default of 100 levels, two of them the stored record's), so that events
 * written before that limit existed replicate too.
 */
export const MAX_FRAME_PAYLOAD_DEPTH = 100

/** msgpack levels of an events frame above a payload: the frame map, its events array, the event map. */
const FRAME_ENVELOPE_DEPTH = 3

/**
 * The encoder's msgpack depth limit (msgpack counts the root as level 1 and a payload's
 * scalars as one more level). The decoder sets none: it accepts every frame this encoder
 * produces, and zod checks every decoded frame.
 */
export const MAX_FRAME_DEPTH = FRAME_ENVELOPE_DEPTH + 1 + MAX_FRAME_PAYLOAD_DEPTH

/** Most events in one `events` frame. */
export const MAX_EVENTS_PER_FRAME = 1024

/** Most origins in one frame's version vector (a hello's longer vector follows in `vector` frames). */
export const MAX_VECTOR_ORIGINS = 10_000

/**
 * Most origins a hello may announce in all, over its `vector` frames: far above what a geo
 * holds (each origin is a log some node wrote), bounded so that one hello costs at most
 * tens of MB to assemble.
 */
export const MAX_HELLO_ORIGINS = 250_000

/**
 * Most entries of any map or array in a frame: as many as one payload of
 * MAX_EVENT_PAYLOAD_BYTES JSON characters can hold (`[0,0,...]` is 2 characters an element).
 */
export const MAX_FRAME_CONTAINER_ENTRIES = MAX_EVENT_PAYLOAD_BYTES / 2

/** What every frame body is scanned against before it is decoded. */
const scanner = new FrameScanner({
  maxContainerEntries: MAX_FRAME_CONTAINER_ENTRIES,
  maxDepth: MAX_FRAME_DEPTH,
  maxVectorEntries: MAX_VECTOR_ORIGINS,
  maxEvents: MAX_EVENTS_PER_FRAME,
  eventFields: EVENT_WIRE_FIELDS,
})

/** Longest refusal reason. */
export const MAX_REASON_LENGTH = 1_000

const name = z.string().min(1).max(MAX_NAME_LENGTH)
const counter = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

const vectorSchema = z
  .record(name, counter)
  .refine((vector) => Object.keys(vector).length <= MAX_VECTOR_ORIGINS, {
    message: `a version vector has at most ${MAX_VECTOR_ORIGINS} origins`,
  })

/**
 * First frame of each side: who it is and what it holds. With `more`, the vector goes on in
 * `vector` frames (the last one without `more`): a geo may hold more origins than one frame.
 */
export const helloFrameSchema = z.object({
  t: z.literal('hello'),
  protocol: z.number().int().positive(),
  app: name,
  geo: name,
  node: name,
  vector: vectorSchema,
  more: z.literal(true).optional(),
  /**
   * Per key, the digest of the retirement notice this node holds (`retired-origins.ts`).
   * The sender's vector leaves out the retired origins of every notice it names; the
   * receiver's reply, those of the notices both sides hold alike. A side reads the other's
   * vector as those notices' retired origins overridden by `vector`.
   */
  bases: z
    .record(name, z.string().regex(/^[0-9a-f]{32}$/))
    .refine((bases) => Object.keys(bases).length <= MAX_VECTOR_ORIGINS)
    .optional(),
})

/** The rest of a hello's vector, in order; the last page has no `more`. */
export const vectorFrameSchema = z.object({
  t: z.literal('vector'),
  vector: vectorSchema,
  more: z.literal(true).optional(),
})

/** Most origins a retirement notice names as live (a geo's members, plus the node that issued it). */
export const MAX_NOTICE_LIVE = 1_000

/**
 * Most origins one retirement notice retires. A notice travels in one frame: an issuer whose
 * origins are long fits fewer; origins left out stay explicit in hellos, which is correct,
 * only larger.
 */
export const MAX_NOTICE_RETIRED = 50_000

/**
 * A key's retirement notice (`retirement-notice.ts`), passed on to every peer: its body is
 * checked against `sig` and `key` before it is decoded.
 */
export const noticeFrameSchema = z.object({
  t: z.literal('notice'),
  key: name,
  body: z.custom<Uint8Array>((b) => b instanceof Uint8Array, 'bytes'),
  sig: z.custom<Uint8Array>((b) => b instanceof Uint8Array && b.byteLength === 64, '64 bytes'),
})

/** The receiving side refuses the handshake (other app, other protocol version). */
export const refuseFrameSchema = z.object({
  t: z.literal('refuse'),
  reason: z.string().max(MAX_REASON_LENGTH),
})

/**
 * A batch of events, numbered per stream so acks can name the last one processed. Each
 * event is its wire array (`event-wire.ts`); `sigs` are the chunks' signatures, each naming
 * the event that ends its chunk. `more` says the sender has further events ready now
 * (catch-up): the receiver may wait briefly to ingest them together.
 */
export const eventsFrameSchema = z.object({
  t: z.literal('events'),
  n: counter,
  events: z.array(eventWireSchema).min(1).max(MAX_EVENTS_PER_FRAME),
  sigs: z.array(sigWireSchema).max(MAX_EVENTS_PER_FRAME).optional(),
  more: z.boolean().optional(),
})

/**
 * A decoded events frame: the events with their signatures attached, and (when it came off
 * the wire) each event's bytes as received, which is what its chunk's signature covers.
 */
export interface EventsFrame {
  t: 'events'
  n: number
  events: EventRecord[]
  more?: boolean
  wire?: readonly Uint8Array[]
}

/** Heartbeat of the sending side; answered by an ack that echoes `at`. */
export const pingFrameSchema = z.object({
  t: z.literal('ping'),
  at: counter,
})

/**
 * The receiving side's answer: it has ingested every events frame up to `n` and holds
 * `vector` (only the origins that advanced since what it last said: its hello, its acks);
 * it has received (and queued) every frame up to `received` (flow control).
 */
export const ackFrameSchema = z
  .object({
    t: z.literal('ack'),
    n: counter,
    received: counter.optional(),
    vector: vectorSchema,
    echo: counter.optional(),
  })
  .refine((ack) => ack.received === undefined || ack.received >= ack.n, {
    message: 'received must not be below n',
  })

/** Most URLs one geo advertises. */
export const MAX_ADVERT_URLS = 4
/** Longest advertised URL. */
export const MAX_ADVERT_URL_LENGTH = 256
/** Highest load a geo may advertise (a load past it reads as this much overloaded anyway). */
export const MAX_ADVERT_LOAD = 1_000_000

/** One advertised URL: http(s), no credentials, no whitespace. */
export const advertUrlSchema = z
  .string()
  .max(MAX_ADVERT_URL_LENGTH)
  .regex(/^https?:\/\/[^\s/@]+(\/\S*)?$/, 'an http(s) URL without credentials')

/**
 * The sending side's advert of its geo, every heartbeat: where clients reach it, whether it
 * is ready and how loaded (see `GeoAdvert`). Only `http(s)` URLs without credentials.
 */
export const statusFrameSchema = z.object({
  t: z.literal('status'),
  urls: z.array(advertUrlSchema).max(MAX_ADVERT_URLS),
  ready: z.boolean(),
  reason: z.string().max(MAX_NAME_LENGTH).optional(),
  load: z.number().nonnegative().max(MAX_ADVERT_LOAD),
})

/** Every frame of `/anywhere/replicate/1`. */
export const frameSchema = z.discriminatedUnion('t', [
  helloFrameSchema,
  vectorFrameSchema,
  noticeFrameSchema,
  refuseFrameSchema,
  eventsFrameSchema,
  pingFrameSchema,
  ackFrameSchema,
  statusFrameSchema,
])

export type HelloFrame = z.infer<typeof helloFrameSchema>
export type StatusFrame = z.infer<typeof statusFrameSchema>
export type NoticeFrame = z.infer<typeof noticeFrameSchema>
export type Frame =
  | HelloFrame
  | z.infer<typeof vectorFrameSchema>
  | NoticeFrame
  | z.infer<typeof refuseFrameSchema>
  | EventsFrame
  | z.infer<typeof pingFrameSchema>
  | { t: 'ack'; n: number; received?: number; vector: VersionVector; echo?: number }
  | StatusFrame

const encoder = new Encoder({ ignoreUndefined: true, maxDepth: MAX_FRAME_DEPTH })

/**
 * Every event framed in this process, encoded once: an event's array sits two levels below
 * the frame's root (the frame map, the events array), so it may hold two levels fewer.
 */
export const eventWire = new EventWireCache(MAX_FRAME_DEPTH - 2)
const decoder = new Decoder({
  maxStrLength: MAX_FRAME_BYTES,
  maxBinLength: MAX_FRAME_BYTES,
  maxArrayLength: MAX_FRAME_BYTES,
  maxMapLength: MAX_FRAME_BYTES,
  maxExtLength: MAX_FRAME_BYTES,
})

/**
 * Encodes a frame as its 4-byte big-endian length followed by its msgpack body.
 * Throws `PayloadTooLargeError` when the body is over `maxBytes`, `FrameError` when the
 * frame cannot be encoded or no peer could decode it (nested deeper than
 * `MAX_FRAME_DEPTH`, a `__proto__` key, a value msgpack cannot represent).
 */
export function encodeFrame(frame: Frame, maxBytes = MAX_FRAME_BYTES): Uint8Array {
  if (frame.t === 'events') return encodeEventsFrame(frame, maxBytes)
  let body: Uint8Array
  try {
    body = encoder.encodeSharedRef(frame)
  } catch (error) {
    throw new FrameError(`cannot encode a fabric '${frame.t}' frame: ${(error as Error).message}`, {
      cause: error,
    })
  }
  if (body.byteLength > maxBytes)
    throw new PayloadTooLargeError(
      tooLargeMessage(`fabric '${frame.t}' frame`, body.byteLength, maxBytes),
    )
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength)
  new DataView(out.buffer).setUint32(0, body.byteLength)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

/** `events` as a msgpack str: the key the events array goes under, last in the frame's map. */
const EVENTS_KEY = new Uint8Array([0xa6, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x73])
/** A msgpack array32 header: its type byte and 4 bytes of count. */
const ARRAY32_HEADER_BYTES = 5

/**
 * An events frame: the small map of its other fields, then `events` with each event's wire
 * bytes as `eventWire` holds them (encoded once, whichever peers they go to), copied in.
 */
function encodeEventsFrame(frame: EventsFrame, maxBytes: number): Uint8Array {
  const parts = frame.events.map((event) => eventWire.bytesOf(event))
  const sigs = sigsOf(frame.events)
  const head = encoder.encode({
    t: 'events',
    n: frame.n,
    ...(frame.more ? { more: true } : {}),
    ...(sigs.length > 0 ? { sigs } : {}),
  })
  let length = head.byteLength + EVENTS_KEY.byteLength + ARRAY32_HEADER_BYTES
  for (const part of parts) length += part.byteLength
  if (length > maxBytes)
    throw new PayloadTooLargeError(tooLargeMessage(`fabric 'events' frame`, length, maxBytes))
  const out = new Uint8Array(FRAME_HEADER_BYTES + length)
  const view = new DataView(out.buffer)
  view.setUint32(0, length)
  out.set(head, FRAME_HEADER_BYTES)
  // The head is a fixmap of at most four entries: one more entry, `events`, follows it.
  out[FRAME_HEADER_BYTES] = head[0]! + 1
  let at = FRAME_HEADER_BYTES + head.byteLength
  out.set(EVENTS_KEY, at)
  at += EVENTS_KEY.byteLength
  out[at] = 0xdd
  view.setUint32(at + 1, parts.length)
  at += ARRAY32_HEADER_BYTES
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

/**
 * Decodes and validates one frame body. Throws `FrameError` with the reason. The counts and
 * depth are checked first by a scan of the msgpack headers (`FrameScanner`), so a frame over a
 * limit is refused before decoding or validation cost anything in proportion to it.
 */
export function decodeFrame(body: Uint8Array): Frame {
  const bounds = scanner.scan(body)
  let value: unknown
  try {
    value = decoder.decode(body)
  } catch (error) {
    throw new FrameError(`a fabric frame is not valid msgpack: ${(error as Error).message}`, {
      cause: error,
    })
  }
  const parsed = frameSchema.safeParse(value)
  if (!parsed.success) {
    throw new FrameError(
      `a fabric frame failed validation: ${issuesText(parsed.error.issues, 3)}`,
      { cause: parsed.error },
    )
  }
  if (parsed.data.t !== 'events') return parsed.data
  const { n, events, sigs, more } = parsed.data
  // One events array per frame: the bytes scanned are the events decoded.
  if (bounds.length !== events.length + 1)
    throw new FrameError('a fabric frame failed validation: events: more than one events array')
  const refusal = attachSigs(events, sigs ?? [])
  if (refusal) throw new FrameError(`a fabric frame failed validation: sigs: ${refusal}`)
  const wire = events.map((_, i) => body.subarray(bounds[i], bounds[i + 1]))
  return { t: 'events', n, events, ...(more !== undefined ? { more } : {}), wire }
}

/** A `status` frame of this geo's advert: at most the URLs a peer accepts, the load clamped. */
export function statusFrame(advert: GeoAdvert): StatusFrame {
  return {
    t: 'status',
    // Only what every peer accepts: a frame that fails validation would close the stream.
    urls: advert.urls
      .filter((url) => advertUrlSchema.safeParse(url).success)
      .slice(0, MAX_ADVERT_URLS),
    ready: advert.ready,
    ...(advert.reason !== undefined ? { reason: advert.reason } : {}),
    load: Math.min(Math.max(advert.load, 0), MAX_ADVERT_LOAD),
  }
}
