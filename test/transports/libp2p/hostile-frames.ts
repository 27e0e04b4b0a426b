// Hostile frame bodies (msgpack, no length header), built byte by byte so that building them
// costs little and no encoder limit stands in the way. Shared by the frame-scan spec, the
// hostile-peer suite and bench/hostile-frames.bench.ts.
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../../transports/libp2p/frames.js'

/** Appends bytes; grows as needed. */
class Bytes {
  private buffer = new Uint8Array(1024)
  length = 0

  push(...bytes: number[]): this {
    this.reserve(bytes.length)
    for (const b of bytes) this.buffer[this.length++] = b
    return this
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buffer.set(bytes, this.length)
    this.length += bytes.length
    return this
  }

  u32(value: number): this {
    return this.push(
      (value >>> 24) & 0xff,
      (value >>> 16) & 0xff,
      (value >>> 8) & 0xff,
      value & 0xff,
    )
  }

  /** A short ASCII string. */
  str(text: string): this {
    this.reserve(text.length + 2)
    if (text.length < 32) this.buffer[this.length++] = 0xa0 | text.length
    else {
      this.buffer[this.length++] = 0xd9
      this.buffer[this.length++] = text.length
    }
    for (let i = 0; i < text.length; i++) this.buffer[this.length++] = text.charCodeAt(i)
    return this
  }

  /** `count` copies of `byte`. */
  fill(byte: number, count: number): this {
    this.reserve(count)
    this.buffer.fill(byte, this.length, this.length + count)
    this.length += count
    return this
  }

  done(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra))
    grown.set(this.buffer.subarray(0, this.length))
    this.buffer = grown
  }
}

/** The hello of the reproduced attack: a version vector of `entries` origins (690k is just under 4 MiB). */
export function hugeHello(entries = 690_000): Uint8Array {
  const out = new Bytes().push(0x86)
  out.str('t').str('hello').str('protocol').push(PROTOCOL_VERSION)
  out.str('app').str('fabric-test').str('geo').str('raw').str('node').str('node-raw')
  out.str('vector').push(0xdf).u32(entries)
  for (let i = 0; i < entries; i++) out.str(i.toString(36).padStart(4, '0')).push(1)
  return out.done()
}

/** An events frame whose `events` array declares `count` elements and holds junk. */
export function eventsOfJunk(count: number, fill = MAX_FRAME_BYTES - 64): Uint8Array {
  const out = new Bytes().push(0x83).str('t').str('events').str('n').push(1).str('events')
  out.push(0xdd).u32(count)
  out.fill(0xc0, Math.max(0, fill - out.length))
  return out.done()
}

/** An events frame of 1024 elements, each an array of small ints (not an event record), about 4 MiB. */
export function eventsOfArrays(elements = 1024, each = 4_000): Uint8Array {
  const out = new Bytes().push(0x83).str('t').str('events').str('n').push(1).str('events')
  out.push(0xdc, (elements >> 8) & 0xff, elements & 0xff)
  for (let e = 0; e < elements; e++) {
    out.push(0xdc, (each >> 8) & 0xff, each & 0xff)
    for (let i = 0; i < each; i++) out.push(i & 0x7f)
  }
  return out.done()
}

/** One event (its wire array) whose payload is an array of `elements` small ints. */
export function eventWithHugePayload(elements = 4_000_000): Uint8Array {
  const out = new Bytes().push(0x83).str('t').str('events').str('n').push(1).str('events')
  out.push(0x91, 0x98)
  out.str('tally').str('x').str('evil').push(1).push(1).push(0).str('added')
  out.push(0xdd).u32(elements)
  out.fill(0, elements)
  return out.done()
}

/** `levels` nested one-element arrays (4 MiB of them by default). */
export function deeplyNested(levels = MAX_FRAME_BYTES - 1): Uint8Array {
  const out = new Uint8Array(levels + 1).fill(0x91)
  out[levels] = 0
  return out
}

/** Random bytes from a seeded generator (four bytes per draw). */
export function randomJunk(bytes: number, random: () => number): Uint8Array {
  const out = new Uint8Array(bytes)
  const words = new Uint32Array(out.buffer, 0, bytes >>> 2)
  for (let i = 0; i < words.length; i++) words[i] = random() * 4_294_967_296
  return out
}

/** A small deterministic generator (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
