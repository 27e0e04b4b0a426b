import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ConfigError } from '../../core/index.js'
import { writeFileDurably } from '../../support/durable-file.js'
import { makeDirectory } from '../../support/make-directory.js'
import { readSmallFile } from '../../support/small-file.js'

/** A node's fabric identity: its Ed25519 key and the PeerId derived from it. */
export interface NodeIdentity {
  /** The PeerId as a string (`12D3KooW...`). */
  readonly peerId: string
  readonly privateKey: PrivateKey
}

/** Largest identity key file read (an Ed25519 key is 68 bytes marshalled). */
const MAX_KEY_FILE_BYTES = 64 * 1024

/** File mode of the identity key: readable and writable by the owner only. */
const KEY_FILE_MODE = 0o600

/**
 * Loads the node's Ed25519 identity from `keyFile`, or generates one and writes it there
 * (protobuf-marshalled, mode 0600) on first use. The same file gives the same PeerId after
 * every restart.
 */
export async function loadOrCreateIdentity(keyFile: string): Promise<NodeIdentity> {
  let bytes: Buffer | undefined
  try {
    const read = await readSmallFile(keyFile, MAX_KEY_FILE_BYTES)
    if (typeof read === 'string')
      throw new ConfigError(
        `the fabric identity key ${keyFile} is not a key (${read}): restore it, or delete it to create a new identity (peers must then allowlist the new PeerId)`,
      )
    bytes = read
  } catch (error) {
    if (error instanceof ConfigError) throw error
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new ConfigError(
        `cannot read the fabric identity key ${keyFile} (${(error as Error).message}): check that it is a file this user can read`,
        {
          cause: error,
        },
      )
  }
  if (bytes) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (error) {
      throw new ConfigError(
        `the fabric identity key ${keyFile} is not a protobuf-marshalled private key: restore it, or delete it to create a new identity (peers must then allowlist the new PeerId)`,
        { cause: error },
      )
    }
    // Events and notices are signed with Ed25519, and peers check them against the Ed25519
    // key a PeerId embeds: a key of another type would start a node no geo takes events from.
    if (privateKey.type !== 'Ed25519')
      throw new ConfigError(
        `the fabric identity key ${keyFile} is a ${privateKey.type} key, not Ed25519: restore the node's Ed25519 key, or delete the file to create a new identity (peers must then allowlist the new PeerId)`,
      )
    return { peerId: peerIdFromPrivateKey(privateKey).toString(), privateKey }
  }
  const privateKey = await generateKeyPair('Ed25519')
  await makeDirectory(dirname(keyFile))
  // Linked into place, never renamed over: the key appears complete or not at all, and a
  // concurrent first start of another process keeps whichever key won.
  try {
    await writeFileDurably(keyFile, privateKeyToProtobuf(privateKey), {
      mode: KEY_FILE_MODE,
      overwrite: false,
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateIdentity(keyFile)
    throw new ConfigError(`cannot write the fabric identity key ${keyFile}`, { cause: error })
  }
  return { peerId: peerIdFromPrivateKey(privateKey).toString(), privateKey }
}

/**
 * The identity a geo of several nodes shares (see docs/fabric.md): `take` is offered this
 * node's own key and answers the geo's (the first node's), which this node then uses.
 */
export async function sharedIdentity(
  own: NodeIdentity,
  take: (candidate: Uint8Array) => Promise<Uint8Array>,
): Promise<NodeIdentity> {
  const bytes = await take(privateKeyToProtobuf(own.privateKey))
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (error) {
    throw new ConfigError(
      "the geo's fabric key in Redis is not a protobuf-marshalled private key: delete it (every node of the geo must then restart, and the other geos allowlist the new PeerId)",
      { cause: error },
    )
  }
  return { peerId: peerIdFromPrivateKey(privateKey).toString(), privateKey }
}
