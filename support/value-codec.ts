// The one msgpack codec of user values (event payloads, actor states) for the stores, and
// the `__proto__` check the fabric needs.
//
// msgpack decoders refuse a map key `__proto__` (decoding it into a plain object would set
// the prototype instead of a key), so a value holding one, written as msgpack, could never
// be read back. A store keeps such a value as a JSON string instead, and the record that
// holds it gets one more field at its end, `JSON_VALUE_FLAG`: `JSON.parse` keeps the key as
// an own property and touches no prototype. Both stores write that same layout (the file
// store's user value is its record's last field, the Redis store's any one field), so one
// reader decodes what either wrote, today and before this module existed.
//
// The fabric cannot take the same way out: a JSON string in place of a payload is a wire
// format change every peer would see. It refuses to frame such a payload instead, with
// `mentionsProtoKey` and `holdsProtoKey` below; core refuses to emit one in the first place.

import { isDeepStrictEqual } from 'node:util'
import { Decoder, Encoder } from '@msgpack/msgpack'
import { ValidationError } from '../core/errors.js'

/** The last field of a record whose user value is stored as a JSON string. */
export const JSON_VALUE_FLAG = 1

/** The key no msgpack decoder accepts. */
export const PROTO_KEY = '__proto__'
const PROTO_KEY_BYTES = Buffer.from(PROTO_KEY)

/** A stored user value that cannot be read back: a flagged JSON value that is not JSON. */
export class UserValueDecodeError extends Error {
  override name = 'UserValueDecodeError'
}

/**
 * True when the bytes of `__proto__` appear anywhere in `bytes`. The cheap scan that comes
 * before any walk: msgpack holding no such bytes holds no such key.
 */
export function mentionsProtoKey(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(PROTO_KEY_BYTES) >= 0
}

/**
 * True when `value` holds a `__proto__` key at any depth: an object's own key or a Map's.
 * Iterative, so no nesting overflows the stack.
 */
export function holdsProtoKey(value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) continue
    if (Array.isArray(item)) {
      for (const element of item) pending.push(element)
    } else if (item instanceof Map) {
      for (const [key, element] of item as Map<unknown, unknown>) {
        if (key === PROTO_KEY) return true
        pending.push(element)
      }
    } else {
      for (const key of Object.keys(item)) {
        if (key === PROTO_KEY) return true
        pending.push((item as Record<string, unknown>)[key])
      }
    }
  }
  return false
}

/** msgpack of stored records: fixed arrays of fields, one of which is a user value. */
export interface ValueCodec {
  /**
   * The msgpack bytes of `fields`, whose field `valueAt` is a user value (`what` names it
   * in errors): msgpack as it is, or with that value as JSON and `JSON_VALUE_FLAG` appended
   * when it holds a `__proto__` key. The bytes are the codec's shared buffer, valid until
   * its next encode call: copy them to keep them. Throws `ValidationError` when the value
   * holds such a key and JSON would not give it back exactly (binary, a Map, a Date,
   * undefined, ...): storing it changed would be worse than refusing it.
   */
  encodeFields(fields: readonly unknown[], valueAt: number, what: string): Uint8Array
  /** The value msgpack `bytes` hold; throws the msgpack decoder's error when they are not msgpack. */
  decode(bytes: Uint8Array): unknown
}

/**
 * A codec with its own encoder: its shared buffer is overwritten only by its own encode
 * calls, so a caller that copies before its next call never sees another store's bytes.
 * `maxDepth`: deepest nesting it encodes (msgpack's default, 100, when omitted).
 */
export function valueCodec(options: { maxDepth?: number } = {}): ValueCodec {
  const encoder = new Encoder(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth })
  const decoder = new Decoder()
  return {
    encodeFields(fields, valueAt, what) {
      const bytes = encoder.encodeSharedRef(fields)
      if (!mentionsProtoKey(bytes)) return bytes
      const value = fields[valueAt]
      // The bytes may be only text (a string that reads `__proto__`): msgpack keeps it.
      if (!holdsProtoKey(value)) return bytes
      const json = JSON.stringify(value)
      if (json === undefined || !isDeepStrictEqual(JSON.parse(json), value))
        throw new ValidationError(
          `${what} holds a '__proto__' key, so it is stored as JSON, but it also holds a value ` +
            `JSON cannot carry exactly (binary, a Date, a Map, undefined, ...). Use plain JSON values.`,
          { issues: [{ path: [PROTO_KEY], message: 'not a plain JSON value' }] },
        )
      const asJson = [...fields]
      asJson[valueAt] = json
      asJson.push(JSON_VALUE_FLAG)
      return encoder.encodeSharedRef(asJson)
    },
    decode(bytes) {
      return decoder.decode(bytes)
    },
  }
}

/** True when decoded `fields` are a record of `count` fields, with or without the JSON flag. */
export function hasValueFields(fields: readonly unknown[], count: number): boolean {
  return (
    fields.length === count || (fields.length === count + 1 && fields[count] === JSON_VALUE_FLAG)
  )
}

/**
 * The user value at `valueAt` of a decoded record of `count` fields (`hasValueFields`
 * holds), parsed when it was stored as JSON. Throws `UserValueDecodeError` when a flagged
 * value is not a JSON string.
 */
export function readUserValue(fields: readonly unknown[], count: number, valueAt: number): unknown {
  const value = fields[valueAt]
  if (fields.length === count) return value
  if (typeof value !== 'string') throw new UserValueDecodeError('a JSON value is not a string')
  try {
    return JSON.parse(value) as unknown
  } catch (error) {
    throw new UserValueDecodeError(`a JSON value does not parse: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
