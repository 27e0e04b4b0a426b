// The shared codec of user values: what the file and Redis stores write and the fabric
// checks. Hostile values and bytes must never reach a prototype, and records written before
// the stores shared it must still decode exactly as they did.
import assert from 'node:assert/strict'
import { ValidationError } from '../../core/index.js'
import {
  JSON_VALUE_FLAG,
  hasValueFields,
  holdsProtoKey,
  mentionsProtoKey,
  readUserValue,
  UserValueDecodeError,
  valueCodec,
} from '../../support/value-codec.js'

const key = '__proto__'
/** Parsed JSON keeps `__proto__` as an own key, as a fold like `{ ...s, [k]: v }` would. */
const hostile = (): Record<string, unknown> =>
  JSON.parse(
    '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},' +
      '"list":[{"__proto__":null}],"text":"plain"}',
  ) as Record<string, unknown>

function assertNoPollution(): void {
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
  assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined)
}

/** Encodes a one-value record with the codec and reads it back. */
function roundTrip(value: unknown): unknown {
  const codec = valueCodec()
  const fields = codec.decode(codec.encodeFields(['head', value], 1, 'a test value').slice())
  assert.ok(Array.isArray(fields) && hasValueFields(fields, 2))
  return readUserValue(fields, 2, 1)
}

describe('support: value codec', () => {
  it('finds a __proto__ key as an own key or a Map key at any depth, not as text', () => {
    assert.equal(holdsProtoKey(hostile()), true)
    assert.equal(holdsProtoKey([[{ a: [JSON.parse('{"__proto__":1}')] }]]), true)
    assert.equal(holdsProtoKey(new Map([[key, 1]])), true)
    assert.equal(
      holdsProtoKey({ note: key, [key.toUpperCase()]: 1, bytes: Buffer.from(key) }),
      false,
    )
    assert.equal(holdsProtoKey({ constructor: { prototype: {} } }), false)
    assert.equal(holdsProtoKey(null), false)
    assert.equal(mentionsProtoKey(Buffer.from(`xx${key}yy`).subarray(2)), true)
    assert.equal(mentionsProtoKey(Buffer.from('__proto_')), false)
  })

  it('walks nesting far deeper than the stack without overflowing', () => {
    let deep: unknown = JSON.parse('{"__proto__":1}')
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { next: deep }
    assert.equal(holdsProtoKey(deep), true)
    // msgpack itself stops at 100 levels: the encoder refuses, before any JSON is built.
    assert.throws(() => valueCodec().encodeFields([deep], 0, 'a deep value'), /Too deep/)
  })

  it('round-trips __proto__ and constructor keys as own properties, polluting nothing', () => {
    const value = hostile()
    const decoded = roundTrip(value) as Record<string, unknown>
    assert.deepStrictEqual(decoded, value)
    assert.ok(Object.hasOwn(decoded, '__proto__'))
    assert.ok(Object.hasOwn(decoded, 'constructor'))
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype)
    assert.ok(Object.hasOwn((decoded['list'] as object[])[0]!, '__proto__'))
    assertNoPollution()
  })

  it('keeps msgpack (binary included) when __proto__ is only text, and plain values as they are', () => {
    const codec = valueCodec()
    const value = { note: key, bytes: new Uint8Array([1, 2, 3]), [key.toUpperCase()]: 1 }
    const fields = codec.decode(codec.encodeFields([value], 0, 'a value').slice()) as unknown[]
    assert.equal(fields.length, 1)
    assert.deepStrictEqual(readUserValue(fields, 1, 0), value)
    for (const plain of [null, 0, -1.5, 'text', [1, [2]], { constructor: 'x', toString: 1 }])
      assert.deepStrictEqual(roundTrip(plain), plain)
  })

  it('refuses a __proto__ value JSON cannot carry exactly, instead of storing it changed', () => {
    const withDate = { ...(JSON.parse('{"__proto__":{"a":1}}') as object), when: new Date(0) }
    for (const value of [{ [key]: 1, bytes: new Uint8Array([1]) }, withDate])
      assert.throws(
        () => valueCodec().encodeFields([value], 0, 'a snapshot state'),
        (error: unknown) =>
          error instanceof ValidationError &&
          /a snapshot state holds a '__proto__' key/.test(error.message),
      )
  })

  it('never decodes a raw __proto__ map key into a prototype', () => {
    // { "__proto__": { "polluted": true } } as msgpack: the decoder refuses the key.
    const raw = Buffer.from('81a95f5f70726f746f5f5f81a8706f6c6c75746564c3', 'hex')
    assert.throws(() => valueCodec().decode(raw), /__proto__/)
    // Deeply nested arrays decode without the stack: a hostile depth is no crash.
    const deep = new Uint8Array(200_000).fill(0x91)
    deep[deep.length - 1] = 0xc0
    assert.equal(Array.isArray(valueCodec().decode(deep)), true)
    assertNoPollution()
  })

  it('refuses a flagged JSON value that is not a JSON string', () => {
    assert.equal(hasValueFields([1, 'x', JSON_VALUE_FLAG], 2), true)
    assert.equal(hasValueFields([1, 'x', 2], 2), false)
    assert.equal(hasValueFields([1], 2), false)
    assert.throws(() => readUserValue([1, 5, JSON_VALUE_FLAG], 2, 1), UserValueDecodeError)
    assert.throws(() => readUserValue([1, '{nope', JSON_VALUE_FLAG], 2, 1), UserValueDecodeError)
  })

  describe('reads what the stores wrote before they shared it', () => {
    // Bytes written by the stores' own codecs before this module existed.
    const payload = JSON.parse('{"__proto__":{"x":1},"list":[{"__proto__":null}]}') as unknown
    const decode = (hex: string) =>
      valueCodec().decode(Uint8Array.from(Buffer.from(hex, 'hex'))) as unknown[]

    it('the Redis store: a member body and a snapshot holding a __proto__ key', () => {
      const body = decode(
        '95c40174c4016bc40163d9317b225f5f70726f746f5f5f223a7b2278223a317d2c226c697374223a5b7b225f5f70726f746f5f5f223a6e756c6c7d5d7d01',
      )
      assert.ok(hasValueFields(body, 4))
      assert.deepStrictEqual(readUserValue(body, 4, 3), payload)
      const snapshot = decode(
        '94d9317b225f5f70726f746f5f5f223a7b2278223a317d2c226c697374223a5b7b225f5f70726f746f5f5f223a6e756c6c7d5d7dc41a000000000000000500000000000000006f0000000000000000010101',
      )
      assert.ok(hasValueFields(snapshot, 3))
      assert.deepStrictEqual(readUserValue(snapshot, 3, 0), payload)
      assertNoPollution()
    })

    it('the Redis store: a body whose payload only mentioned __proto__ (written as JSON then)', () => {
      const body = decode('95c40174c4016bc40163b47b226e6f7465223a225f5f70726f746f5f5f227d01')
      assert.ok(hasValueFields(body, 4))
      assert.deepStrictEqual(readUserValue(body, 4, 3), { note: key })
    })

    it('the file store: an event holding a __proto__ key, a snapshot only mentioning it', () => {
      const event = decode(
        '9a00a174a16ba16f010500a163d9317b225f5f70726f746f5f5f223a7b2278223a317d2c226c697374223a5b7b225f5f70726f746f5f5f223a6e756c6c7d5d7d01',
      )
      assert.ok(hasValueFields(event, 9))
      assert.deepStrictEqual(readUserValue(event, 9, 8), payload)
      const snapshot = decode(
        '9901a174a16b0500a16f010182a46e6f7465a95f5f70726f746f5f5fa56279746573c403010203',
      )
      assert.ok(hasValueFields(snapshot, 9))
      assert.deepStrictEqual(readUserValue(snapshot, 9, 8), {
        note: key,
        bytes: new Uint8Array([1, 2, 3]),
      })
    })
  })
})
