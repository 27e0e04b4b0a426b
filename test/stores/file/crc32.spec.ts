import assert from 'node:assert/strict'
import { crc32, crc32Range, tableCrc32 } from '../../../stores/file/crc32.js'

describe('file store: crc32', () => {
  it('matches the standard check value, natively and table-driven, whole or chained', () => {
    const data = Buffer.from('123456789', 'latin1')
    for (const f of [crc32, tableCrc32]) {
      assert.equal(f(data), 0xcbf43926)
      assert.equal(f(data.subarray(4), f(data.subarray(0, 4))), 0xcbf43926)
      assert.equal(f(new Uint8Array(0)), 0)
    }
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff))
    assert.equal(tableCrc32(random), crc32(random))
  })

  it('gives the checksum of any range of a buffer, short (in JS) or long (native)', () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24))
    for (const length of [0, 1, 7, 8, 9, 15, 16, 62, 255, 256, 257, 1000, 4000])
      for (const start of [0, 1, 3, 8, 13])
        assert.equal(
          crc32Range(bytes, start, start + length),
          crc32(bytes.subarray(start, start + length)),
          `${length} bytes from ${start}`,
        )
  })
})
