// The record codec: every event and snapshot it encodes decodes back exactly, including
// values msgpack itself cannot carry (a `__proto__` key: its decoder refuses one).
import assert from 'node:assert/strict'
import type { EventRecord } from '../../../core/event.js'
import type { Snapshot } from '../../../core/event-store.js'
import {
  decodeRecordBody,
  encodeEventBody,
  encodeSnapshotBody,
} from '../../../stores/file/record-codec.js'

describe('file store: record codec', () => {
  const event: EventRecord = {
    actorType: 'thing',
    actorId: 'k',
    origin: 'node-a',
    seq: 1,
    hlc: { wall: 5, logical: 0 },
    type: 'changed',
    payload: { n: 1 },
  }
  const snapshot: Snapshot = {
    actorType: 'thing',
    actorId: 'k',
    state: { total: 2 },
    at: { hlc: { wall: 5, logical: 0 }, origin: 'node-a', seq: 1 },
    eventCount: 1,
  }

  /** A state as a fold like `{ ...state.entries, [key]: value }` builds it, key `__proto__`. */
  function withProtoKey(): Record<string, unknown> {
    const key = '__proto__'
    const entries = { ...{ a: 1 }, [key]: { nested: [1, 'x', null, { [key]: true }] } }
    return { entries, list: [{ [key]: 'v' }], text: 'plain' }
  }

  it('round-trips a snapshot state holding a __proto__ key, as own properties', () => {
    const state = withProtoKey()
    assert.ok(Object.hasOwn(state.entries as object, '__proto__'))
    const decoded = decodeRecordBody(encodeSnapshotBody({ ...snapshot, state }).slice())
    assert.equal(decoded.kind, 'snapshot')
    assert.deepStrictEqual(decoded.kind === 'snapshot' && decoded.snapshot, { ...snapshot, state })
    const entries = (decoded.kind === 'snapshot' && decoded.snapshot.state) as typeof state
    assert.ok(Object.hasOwn(entries.entries as object, '__proto__'))
    assert.equal(Object.getPrototypeOf(entries.entries), Object.prototype)
  })

  it('round-trips an event payload holding a __proto__ key', () => {
    const payload = withProtoKey()
    const decoded = decodeRecordBody(encodeEventBody({ ...event, payload }).slice())
    assert.deepStrictEqual(decoded, { kind: 'event', event: { ...event, payload } })
  })

  it('keeps msgpack for values that only mention __proto__ in a string (binary survives)', () => {
    const state = { note: '__proto__', bytes: new Uint8Array([1, 2, 3]) }
    const decoded = decodeRecordBody(encodeSnapshotBody({ ...snapshot, state }).slice())
    assert.deepStrictEqual(decoded.kind === 'snapshot' && decoded.snapshot.state, state)
  })

  it('refuses a __proto__ value that JSON cannot carry exactly, instead of storing it changed', () => {
    const key = '__proto__'
    const state = { [key]: 1, bytes: new Uint8Array([1, 2, 3]) }
    assert.throws(() => encodeSnapshotBody({ ...snapshot, state }), /__proto__/)
  })
})
