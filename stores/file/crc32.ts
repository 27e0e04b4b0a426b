import * as zlib from 'node:zlib'

type Crc32 = (data: Uint8Array, initial?: number) => number

/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of `data`, continuing from `initial` so a
 * checksum can span several buffers. Uses `zlib.crc32` (native, Node >= 20.15) and falls
 * back to a table-driven version with identical output on older Nodes.
 */
export const crc32: Crc32 =
  typeof (zlib as { crc32?: Crc32 }).crc32 === 'function'
    ? (zlib as unknown as { crc32: Crc32 }).crc32
    : tableCrc32

/**
 * Below this many bytes `crc32Range` computes in JS: a call into zlib costs a view and a
 * trip to C++ (about 0.6 µs), several times a JS pass over a small event record's bytes.
 */
const NATIVE_FROM_BYTES = 256

/** The slicing-by-8 tables: `TABLES[0]` is the classic byte table, each next one a byte further on. */
const TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  const first = tables[0]!
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    first[n] = c >>> 0
  }
  for (let k = 1; k < 8; k++)
    for (let n = 0; n < 256; n++)
      tables[k]![n] = (tables[k - 1]![n]! >>> 8) ^ first[tables[k - 1]![n]! & 0xff]!
  return tables
})()
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
]

/**
 * CRC-32 of `data[start..end)`, the same value as `crc32(data.subarray(start, end))` without
 * making the view when the range is small (the scan of a segment checks millions of
 * records of a few dozen bytes each).
 */
export function crc32Range(data: Uint8Array, start: number, end: number): number {
  if (end - start >= NATIVE_FROM_BYTES) return crc32(data.subarray(start, end))
  return jsCrc32(data, start, end, 0)
}

/** The portable CRC-32; exported so a test can check it agrees with the native one. */
export function tableCrc32(data: Uint8Array, initial = 0): number {
  return jsCrc32(data, 0, data.length, initial)
}

/** Slicing-by-8: eight bytes per step through eight tables, then the tail byte by byte. */
function jsCrc32(data: Uint8Array, start: number, end: number, initial: number): number {
  let crc = ~initial
  let i = start
  for (; i + 8 <= end; i += 8) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
    crc =
      T7[a & 0xff]! ^
      T6[(a >>> 8) & 0xff]! ^
      T5[(a >>> 16) & 0xff]! ^
      T4[a >>> 24]! ^
      T3[data[i + 4]!]! ^
      T2[data[i + 5]!]! ^
      T1[data[i + 6]!]! ^
      T0[data[i + 7]!]!
  }
  for (; i < end; i++) crc = T0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
