import assert from 'node:assert/strict'
import { crc32, tableCrc32 } from '../../../stores/file/crc32.js'

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
})
