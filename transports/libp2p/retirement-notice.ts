// A key's word on which of its origins are retired: a node's logs that will write no more
// (every start of a memory-store node, every re-created log, a geo's departed members). A
// notice is signed by the key (Ed25519, like event chunks), travels between geos and through
// relays, and lets every geo leave those origins out of its hellos (retired-origins.ts).
import { createHash, sign, verify, type KeyObject } from 'node:crypto'
import { Decoder, Encoder } from '@msgpack/msgpack'
import type { PrivateKey } from '@libp2p/interface'
import { MAX_NAME_LENGTH, originPeerId } from '../../core/index.js'
import { ed25519PrivateKey, peerPublicKey } from './ed25519-keys.js'
import { FrameScanner } from './frame-scan.js'
import { MAX_FRAME_BYTES } from './frame-decoder.js'
import { MAX_NOTICE_LIVE, MAX_NOTICE_RETIRED, type Frame } from './frames.js'

export { MAX_NOTICE_LIVE, MAX_NOTICE_RETIRED } from './frames.js'

/** Most bytes of a notice's body (a frame carries it with its key and signature). */
export const MAX_NOTICE_BYTES = MAX_FRAME_BYTES - 4 * 1024

/** The notice format, first element of its body: a body of another version is refused. */
const NOTICE_VERSION = 1

/** What a key says about its origins. */
export interface RetirementNotice {
  /** The PeerId whose key signed it; every origin it names is `<log id>.<key>`. */
  readonly key: string
  /** When it was issued (ms, monotonic per key): the newest notice of a key wins. */
  readonly issuedAt: number
  /** The key's origins in use when it was issued. */
  readonly live: readonly string[]
  /** Retired origins, sorted, each with the highest seq the issuer knew of. */
  readonly retired: readonly (readonly [string, number])[]
}

/** A notice with the bytes its signature covers, as it is stored and sent. */
export interface SignedNotice {
  readonly notice: RetirementNotice
  /** The msgpack body the signature covers. */
  readonly body: Uint8Array
  /** Ed25519 signature of `body` by the key. */
  readonly sig: Uint8Array
}

const encoder = new Encoder()
const decoder = new Decoder({
  maxStrLength: MAX_NOTICE_BYTES,
  maxBinLength: 0,
  maxArrayLength: MAX_NOTICE_RETIRED,
  maxMapLength: 0,
  maxExtLength: 0,
})

/** A body's counts and depth, scanned before it is decoded. */
const scanner = new FrameScanner({
  maxContainerEntries: MAX_NOTICE_RETIRED,
  maxDepth: 4,
  maxVectorEntries: 0,
  maxEvents: 0,
  eventFields: 0,
})

/**
 * Signs a notice with `privateKey` (the key's own). Retired origins past what fits in
 * MAX_NOTICE_RETIRED or MAX_NOTICE_BYTES are left out (the last ones in sort order).
 */
export function signNotice(notice: RetirementNotice, privateKey: PrivateKey): SignedNotice {
  let retired = [...notice.retired]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, MAX_NOTICE_RETIRED)
  const live = [...new Set(notice.live)].sort().slice(0, MAX_NOTICE_LIVE)
  let body = encodeBody({ ...notice, live, retired })
  while (body.byteLength > MAX_NOTICE_BYTES) {
    retired = retired.slice(
      0,
      Math.floor((retired.length * MAX_NOTICE_BYTES) / body.byteLength) - 1,
    )
    body = encodeBody({ ...notice, live, retired })
  }
  const sig = signNoticeBody(body, privateKey)
  return { notice: { key: notice.key, issuedAt: notice.issuedAt, live, retired }, body, sig }
}

/** The Ed25519 signature of a notice's body by `privateKey`. */
export function signNoticeBody(body: Uint8Array, privateKey: PrivateKey): Uint8Array {
  return new Uint8Array(sign(null, body, ed25519PrivateKey(privateKey, 'notices')))
}

function encodeBody(notice: RetirementNotice): Uint8Array {
  return encoder.encode([NOTICE_VERSION, notice.key, notice.issuedAt, notice.live, notice.retired])
}

/**
 * Opens a notice received (or read back) as `key`, `body` and `sig`: the signature is checked
 * against `key` before the body is read; the body's counts are scanned before it is decoded,
 * then every field is checked by hand (each origin must name `key`). Returns the notice, or
 * why it is refused.
 */
export function openNotice(key: string, body: Uint8Array, sig: Uint8Array): SignedNotice | string {
  if (body.byteLength > MAX_NOTICE_BYTES)
    return `a notice of ${body.byteLength} bytes (at most ${MAX_NOTICE_BYTES})`
  const publicKey = publicKeyOf(key)
  if (typeof publicKey === 'string') return publicKey
  if (sig.byteLength !== 64 || !verify(null, body, publicKey, sig))
    return `its signature is not of key ${key}`
  let value: unknown
  try {
    scanner.scan(body)
    value = decoder.decode(body)
  } catch (error) {
    return `its body is malformed: ${(error as Error).message}`
  }
  const notice = noticeOf(value, key)
  return typeof notice === 'string' ? notice : { notice, body, sig }
}

/** Checks a decoded body by hand (faster than a schema over tens of thousands of tuples). */
function noticeOf(value: unknown, key: string): RetirementNotice | string {
  if (!Array.isArray(value) || value.length !== 5) return 'its body is not a notice'
  const [version, named, issuedAt, live, retired] = value as unknown[]
  if (version !== NOTICE_VERSION) return `notice version ${String(version)} is not supported`
  if (named !== key) return `its body names key ${String(named)}, not ${key}`
  if (typeof issuedAt !== 'number' || !Number.isSafeInteger(issuedAt) || issuedAt < 0)
    return 'its issuedAt is not a non-negative integer'
  if (!Array.isArray(live) || live.length > MAX_NOTICE_LIVE)
    return `its live origins are not a list of at most ${MAX_NOTICE_LIVE}`
  for (const origin of live as unknown[])
    if (!isOriginOf(origin, key)) return `live origin ${String(origin)} does not name key ${key}`
  if (!Array.isArray(retired) || retired.length > MAX_NOTICE_RETIRED)
    return `its retired origins are not a list of at most ${MAX_NOTICE_RETIRED}`
  for (const entry of retired as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) return 'a retired entry is not [origin, seq]'
    const [origin, seq] = entry as unknown[]
    if (!isOriginOf(origin, key)) return `retired origin ${String(origin)} does not name key ${key}`
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
      return `retired origin ${origin} has no valid seq`
  }
  return {
    key,
    issuedAt,
    live: live as string[],
    retired: retired as [string, number][],
  }
}

function isOriginOf(origin: unknown, key: string): origin is string {
  return (
    typeof origin === 'string' &&
    origin.length <= MAX_NAME_LENGTH &&
    origin !== '__proto__' &&
    originPeerId(origin) === key
  )
}

/** A notice's digest, as hellos name it: the first 128 bits of the sha256 of its body, in hex. */
export function noticeDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 32)
}

function publicKeyOf(peerId: string): KeyObject | string {
  const key = peerPublicKey(peerId)
  if (key === 'invalid') return `key ${peerId} is no valid PeerId`
  if (key === 'not Ed25519') return `key ${peerId} is no Ed25519 PeerId`
  return key
}

/** The frame that passes a notice on. */
export function noticeFrame(signed: SignedNotice): Frame {
  return { t: 'notice', key: signed.notice.key, body: signed.body, sig: signed.sig }
}
