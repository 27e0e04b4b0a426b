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

const TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** The portable CRC-32; exported so a test can check it agrees with the native one. */
export function tableCrc32(data: Uint8Array, initial = 0): number {
  let crc = ~initial >>> 0
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
