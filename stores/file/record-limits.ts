// The size limits a write must keep before it is framed: one record, and one commit.
import { PayloadTooLargeError, tooLargeMessage, type EventRecord } from '../../core/index.js'
import { MAX_COMMIT_BYTES } from './options.js'
import { encodeEventBody } from './record-codec.js'
import { framedBytes } from './group-commit.js'
import { MAX_RECORD_BYTES } from './segment-format.js'

/** One call's records go in one commit, which has a hard limit. */
export function assertCommitSize(bodies: readonly Uint8Array[]): void {
  const bytes = framedBytes(bodies)
  if (bytes > MAX_COMMIT_BYTES)
    throw new PayloadTooLargeError(
      tooLargeMessage(`${bodies.length} records in one call`, bytes, MAX_COMMIT_BYTES),
    )
}

/** An event's msgpack body (the encoder's shared buffer: use or copy it at once). */
export function encodeEvent(event: EventRecord): Uint8Array {
  const body = encodeEventBody(event)
  if (body.length > MAX_RECORD_BYTES)
    throw new PayloadTooLargeError(
      tooLargeMessage('an event record', body.length, MAX_RECORD_BYTES),
    )
  return body
}
