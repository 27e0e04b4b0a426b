import assert from 'node:assert/strict'
import {
  assertStorablePayload,
  FrameError,
  MAX_EVENT_PAYLOAD_BYTES,
  MAX_NAME_LENGTH,
  MAX_PAYLOAD_DEPTH,
  PayloadTooLargeError,
  type EventRecord,
} from '../../../core/index.js'
import {
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  MAX_FRAME_BYTES,
  MAX_FRAME_PAYLOAD_DEPTH,
  type Frame,
} from '../../../transports/libp2p/frames.js'

function nested(depth: number): unknown {
  let payload: unknown = 1
  for (let i = 0; i < depth; i++) payload = i % 2 === 0 ? { d: payload } : [payload]
  return payload
}

function eventWith(payload: unknown, seq = 1): EventRecord {
  const name = 'n'.repeat(MAX_NAME_LENGTH)
  return {
    actorType: name,
    actorId: name,
    origin: name,
    seq,
    hlc: { wall: Date.now(), logical: 0 },
    type: name,
    payload,
  }
}

/** Encodes, then splits and decodes the way a receiver does. */
function roundTrip(frame: Frame): Frame {
  const bytes = encodeFrame(frame)
  const decoder = new FrameDecoder()
  // Byte by byte would be slow for MiBs: three uneven chunks exercise reassembly.
  const cuts = [0, 3, Math.floor(bytes.byteLength / 3), bytes.byteLength]
  for (let i = 1; i < cuts.length; i++) decoder.push(bytes.subarray(cuts[i - 1], cuts[i]))
  const body = decoder.next()
  assert.ok(body, 'a whole frame')
  assert.equal(body.byteLength, bytes.byteLength - FRAME_HEADER_BYTES)
  return decodeFrame(body)
}

describe('fabric frames: what the encoder produces, the decoder accepts', () => {
  it('has limits at least as large as what core accepts at emit', () => {
    assert.ok(MAX_FRAME_PAYLOAD_DEPTH >= MAX_PAYLOAD_DEPTH)
    // msgpack is at most 3 times the JSON characters core counts (see MAX_FRAME_BYTES).
    assert.ok(MAX_FRAME_BYTES > 3 * MAX_EVENT_PAYLOAD_BYTES)
  })

  it('carries a payload at the deepest nesting a frame allows', () => {
    for (const depth of [MAX_PAYLOAD_DEPTH, 97, 98, MAX_FRAME_PAYLOAD_DEPTH]) {
      const event = eventWith(nested(depth))
      const decoded = roundTrip({ t: 'events', n: 1, events: [event] })
      assert.equal(decoded.t, 'events')
      assert.deepEqual(decoded.events[0]!.payload, event.payload, `depth ${depth}`)
    }
  })

  it('refuses to encode a payload deeper than that with FrameError', () => {
    const event = eventWith(nested(MAX_FRAME_PAYLOAD_DEPTH + 1))
    assert.throws(() => encodeFrame({ t: 'events', n: 1, events: [event] }), FrameError)
  })

  it('carries one event of the largest payload core accepts, where msgpack grows it most', () => {
    // Core counts about the JSON length: a string's characters + 2, a key's + 3, 8 per scalar.
    // '中' is 1 character and 3 UTF-8 bytes; 0.5 counts 8 and is 9 bytes as a msgpack float64.
    const text = '中'.repeat(MAX_EVENT_PAYLOAD_BYTES - 2)
    const floats = new Array<number>(Math.floor(MAX_EVENT_PAYLOAD_BYTES / 8) - 1).fill(0.5)
    for (const payload of [text, floats]) {
      assertStorablePayload(payload, 'the largest payload') // core accepts it at emit
      const decoded = roundTrip({ t: 'events', n: 1, events: [eventWith(payload)] })
      assert.equal(decoded.t, 'events')
      assert.deepEqual(decoded.events[0]!.payload, payload)
    }
  })

  it('decodes a frame of exactly MAX_FRAME_BYTES and refuses to encode one byte more', () => {
    const probe = encodeFrame({ t: 'events', n: 1, events: [eventWith('')] })
    const overhead = probe.byteLength - FRAME_HEADER_BYTES
    // A str of 65,536 bytes or more has a 5-byte header where '' has 1.
    const fill = MAX_FRAME_BYTES - overhead - 4
    const exact: Frame = { t: 'events', n: 1, events: [eventWith('x'.repeat(fill))] }
    assert.equal(encodeFrame(exact).byteLength, FRAME_HEADER_BYTES + MAX_FRAME_BYTES)
    assert.equal(roundTrip(exact).t, 'events')
    assert.throws(
      () => encodeFrame({ t: 'events', n: 1, events: [eventWith('x'.repeat(fill + 1))] }),
      PayloadTooLargeError,
    )
  })

  it('refuses to encode a payload key no decoder accepts, but not the same text as a value', () => {
    const proto = JSON.parse('{"a": [{"__proto__": {"x": 1}}]}') as unknown
    assert.throws(
      () => encodeFrame({ t: 'events', n: 1, events: [eventWith({ by: 1 }), eventWith(proto, 2)] }),
      (error: unknown) => error instanceof FrameError && /:2: .*__proto__/.test(error.message),
    )
    // Deeper than core allows at emit, and the text '__proto__' elsewhere: still framed.
    const legacy = { note: '__proto__', deep: nested(MAX_PAYLOAD_DEPTH + 10) }
    assert.equal(roundTrip({ t: 'events', n: 1, events: [eventWith(legacy)] }).t, 'events')
    const decoded = roundTrip({ t: 'events', n: 1, events: [eventWith({ key: '__proto__' })] })
    assert.equal(decoded.t, 'events')
    assert.deepEqual(decoded.events[0]!.payload, { key: '__proto__' })
  })
})
