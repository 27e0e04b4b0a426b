// Node's crypto KeyObjects for libp2p's Ed25519 keys: what signs and verifies event chunks
// (event-signing.ts) and retirement notices (retirement-notice.ts).
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

/** The KeyObject of a libp2p Ed25519 private key (its raw form is seed then public key). */
export function ed25519PrivateKey(privateKey: PrivateKey, signs: string): KeyObject {
  if (privateKey.type !== 'Ed25519')
    throw new TypeError(`${signs} are signed with an Ed25519 key, not ${privateKey.type}`)
  const raw = privateKey.raw
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(raw.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(raw.subarray(32, 64)).toString('base64url'),
    },
    format: 'jwk',
  })
}

/** The Ed25519 public key a PeerId embeds, or why it has none ('invalid', 'not Ed25519'). */
export function peerPublicKey(peerId: string): KeyObject | 'invalid' | 'not Ed25519' {
  let embedded
  try {
    embedded = peerIdFromString(peerId).publicKey
  } catch {
    return 'invalid'
  }
  if (embedded?.type !== 'Ed25519') return 'not Ed25519'
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(embedded.raw).toString('base64url') },
    format: 'jwk',
  })
}
