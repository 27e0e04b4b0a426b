// The Redis store relies on Redis comparing members byte by byte: these properties are
// what makes ZRANGEBYLEX return events in merge order.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { compareEventKeys, type EventKey, type EventRecord } from '../../../core/index.js'
import {
  decodeMember,
  decodeName,
  decodeSnapshot,
  encodeMember,
  encodeSnapshot,
  encodeName,
  sortKey,
  sortKeySuccessor,
} from '../../../stores/redis/encoding.js'

// Any UTF-16 string, lone surrogates and NUL included; and a tiny alphabet that makes ties likely.
const anyName = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
)
const tieName = fc.constantFrom(
  'a',
  'ab',
  'a\u0000',
  'a\u0000b',
  'b',
  '\uffff',
  '\ud83d\ude00',
  '\ud800',
)
const origin = fc.oneof(anyName, tieName)
const int = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.maxSafeNat())
const eventKey = fc.record({
  hlc: fc.record({ wall: int, logical: int }),
  origin,
  seq: fc.oneof(
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 1 }),
  ),
})

const sign = (n: number) => Math.sign(n)

describe('redis store encoding', () => {
  it('sort keys compare byte-wise exactly as compareEventKeys', () => {
    fc.assert(
      fc.property(eventKey, eventKey, (a: EventKey, b: EventKey) => {
        assert.equal(sign(Buffer.compare(sortKey(a), sortKey(b))), sign(compareEventKeys(a, b)))
      }),
      { numRuns: 5_000 },
    )
  })

  it('the successor bound splits members into "up to the key" and "after it"', () => {
    fc.assert(
      fc.property(eventKey, eventKey, fc.uint8Array({ maxLength: 8 }), (a, b, body) => {
        const member = Buffer.concat([sortKey(b), body])
        const afterA = Buffer.compare(member, sortKeySuccessor(a)) >= 0
        assert.equal(afterA, compareEventKeys(b, a) > 0)
      }),
      { numRuns: 5_000 },
    )
  })

  it('names and members round-trip', () => {
    fc.assert(fc.property(anyName, (name) => assert.equal(decodeName(encodeName(name)), name)))
    fc.assert(
      fc.property(
        eventKey,
        anyName,
        anyName,
        fc.jsonValue(),
        (key, actorType, actorId, payload) => {
          // Plain objects, and payloads as JSON would carry them (no -0).
          const event: EventRecord = {
            ...key,
            hlc: { ...key.hlc },
            actorType,
            actorId,
            type: 'changed',
            payload: JSON.parse(JSON.stringify(payload)) as unknown,
          }
          assert.deepEqual(decodeMember(encodeMember(event)), event)
        },
      ),
      { numRuns: 1_000 },
    )
  })

  it('snapshots round-trip', () => {
    fc.assert(
      fc.property(eventKey, fc.jsonValue(), fc.nat(), (at, state, eventCount) => {
        const snapshot = {
          actorType: 'thing',
          actorId: 'x',
          state: JSON.parse(JSON.stringify(state)) as unknown,
          at: { ...at, hlc: { ...at.hlc } },
          eventCount,
        }
        assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot), 'thing', 'x'), snapshot)
      }),
      { numRuns: 500 },
    )
  })

  it('keeps payloads and states with a __proto__ key (msgpack decoders refuse that key)', () => {
    const payload = JSON.parse('{"__proto__":{"x":1},"list":[{"__proto__":null}]}') as unknown
    const event: EventRecord = {
      actorType: 'thing',
      actorId: 'x',
      origin: 'o',
      seq: 1,
      hlc: { wall: 1, logical: 0 },
      type: 'changed',
      payload,
    }
    const decoded = decodeMember(encodeMember(event))
    assert.deepEqual(decoded, event)
    assert.ok(Object.hasOwn(decoded.payload as object, '__proto__'))
    const snapshot = {
      actorType: 'thing',
      actorId: 'x',
      state: payload,
      at: event,
      eventCount: 1,
    }
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot), 'thing', 'x').state, payload)
  })

  it('reads members written before the stores shared one value codec', () => {
    // Bodies as this store wrote them then: a payload with a __proto__ key as flagged JSON,
    // and one that only mentioned __proto__ as text, which went to JSON too.
    const key: EventKey = { hlc: { wall: 5, logical: 0 }, origin: 'o', seq: 1 }
    const member = (hex: string) => Buffer.concat([sortKey(key), Buffer.from(hex, 'hex')])
    const proto = decodeMember(
      member(
        '95c40174c4016bc40163d9317b225f5f70726f746f5f5f223a7b2278223a317d2c226c697374223a5b7b225f5f70726f746f5f5f223a6e756c6c7d5d7d01',
      ),
    )
    assert.deepEqual(
      proto.payload,
      JSON.parse('{"__proto__":{"x":1},"list":[{"__proto__":null}]}') as unknown,
    )
    assert.ok(Object.hasOwn(proto.payload as object, '__proto__'))
    const text = decodeMember(
      member('95c40174c4016bc40163b47b226e6f7465223a225f5f70726f746f5f5f227d01'),
    )
    assert.deepEqual(text, {
      ...key,
      actorType: 't',
      actorId: 'k',
      type: 'c',
      payload: { note: '__proto__' },
    })
  })

  it('refuses bytes that are not a member', () => {
    for (const garbage of [
      Buffer.alloc(0),
      Buffer.from('hello world, not an event'),
      Buffer.alloc(40, 0xff),
    ])
      assert.throws(() => decodeMember(garbage), { name: 'MemberDecodeError' })
  })
})
