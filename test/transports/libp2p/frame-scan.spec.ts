import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { decode as decodeMsgpack } from '@msgpack/msgpack'
import { FrameError } from '../../../core/index.js'
import {
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  MAX_FRAME_BYTES,
  type Frame,
} from '../../../transports/libp2p/frames.js'
import {
  deeplyNested,
  eventsOfArrays,
  eventsOfJunk,
  eventWithHugePayload,
  hugeHello,
  randomJunk,
  seededRandom,
} from './hostile-frames.js'

/** Refusal of `body` by decodeFrame: the error, the time it took and the heap it grew. */
function refuse(body: Uint8Array): { error: unknown; ms: number; heapMb: number } {
  const heapBefore = process.memoryUsage().heapUsed
  const start = performance.now()
  let error: unknown
  try {
    decodeFrame(body)
  } catch (e) {
    error = e
  }
  const ms = performance.now() - start
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20
  return { error, ms, heapMb }
}

function bodyOf(frame: Frame): Uint8Array {
  return encodeFrame(frame).subarray(FRAME_HEADER_BYTES)
}

describe('fabric frames: refused by a scan of the msgpack headers before decoding', function () {
  this.timeout(30_000)

  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['a 4 MiB hello of 690k vector entries', () => hugeHello(), /version vector of 690000 origins/],
    ['an events frame declaring 4M events of junk', () => eventsOfJunk(4_000_000), /events array/],
    [
      'an events frame of 1024 arrays of ints instead of event records',
      () => eventsOfArrays(),
      /not an event \(an array of 8 fields\)/,
    ],
    [
      'an event whose payload declares 4M elements',
      () => eventWithHugePayload(),
      /array of 4000000/,
    ],
    ['4 MiB of nesting', () => deeplyNested(), /nested deeper than/],
  ]
  for (const [what, build, reason] of cases)
    it(`refuses ${what} in under 50 ms, growing the heap under 50 MB`, () => {
      const body = build()
      assert.ok(body.byteLength <= MAX_FRAME_BYTES, `${body.byteLength} bytes`)
      refuse(body) // warm up: the figures below are those of a running node
      const { error, ms, heapMb } = refuse(body)
      assert.ok(error instanceof FrameError, String(error))
      assert.match(error.message, reason)
      assert.match(error.message, /refused before decoding/)
      assert.ok(ms < 50, `${ms.toFixed(1)} ms`)
      assert.ok(heapMb < 50, `${heapMb.toFixed(1)} MB`)
    })

  it('refuses 4 MiB of random bytes quickly, for many seeds', () => {
    const random = seededRandom(Number(process.env.HOSTILE_SEED ?? 1))
    for (let i = 0; i < 10; i++) {
      const { error, ms } = refuse(randomJunk(MAX_FRAME_BYTES, random))
      assert.ok(error instanceof FrameError, String(error))
      assert.ok(ms < 50, `${ms.toFixed(1)} ms`)
    }
  })

  it('refuses a truncated frame and bytes after the frame, naming why', () => {
    const body = bodyOf({ t: 'ping', at: 12345 })
    assert.throws(() => decodeFrame(body.subarray(0, body.length - 1)), /truncated/)
    assert.throws(() => decodeFrame(Uint8Array.from([...body, 0])), /1 bytes after/)
    assert.throws(() => decodeFrame(Uint8Array.from([0xc1])), /not msgpack/)
    assert.throws(() => decodeFrame(Uint8Array.from([0xdd, 0, 0, 0, 9])), /declares 9 entries/)
  })

  it('still decodes every valid frame kind', () => {
    const event = {
      actorType: 'tally',
      actorId: 'x',
      origin: 'o',
      seq: 1,
      hlc: { wall: 1, logical: 0 },
      type: 'added',
      payload: { list: Array.from({ length: 1000 }, (_, i) => i), nested: [[[{ a: null }]]] },
    }
    const frames: Frame[] = [
      { t: 'hello', protocol: 1, app: 'a', geo: 'g', node: 'n', vector: { o: 1, p: 2 } },
      { t: 'refuse', reason: 'no' },
      { t: 'events', n: 1, events: [event, { ...event, seq: 2 }], more: true },
      { t: 'ping', at: 5 },
      { t: 'ack', n: 1, received: 2, vector: {}, echo: 5 },
    ]
    for (const frame of frames) {
      const body = bodyOf(frame)
      const decoded = decodeFrame(body)
      if (decoded.t !== 'events') {
        assert.deepEqual(decoded, frame)
        continue
      }
      // An events frame also gives each event's bytes as received: what its signature covers.
      const { wire, ...rest } = decoded
      assert.deepEqual(rest, frame)
      assert.equal(wire?.length, decoded.events.length)
      assert.deepEqual(
        wire?.map((bytes) => decodeMsgpack(bytes)),
        decoded.events.map((e) => [
          e.actorType,
          e.actorId,
          e.origin,
          e.seq,
          e.hlc.wall,
          e.hlc.logical,
          e.type,
          e.payload,
        ]),
      )
    }
  })
})
