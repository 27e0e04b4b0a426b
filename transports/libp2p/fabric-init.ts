// The fabric's init read at start: the allowlisted peers with their addresses, listen
// addresses and the private-network key, each refused with a ConfigError that names it.
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { ConfigError, type FabricComponents } from '../../core/index.js'
import { readSmallFile } from '../../support/small-file.js'
import type { Libp2pFabricOptions } from './options.js'

/** One allowlisted peer, parsed: its PeerId and the addresses to dial it at. */
export interface ParsedPeer {
  geo: string | undefined
  peerId: PeerId
  addrs: Multiaddr[]
}

/** The allowlist, one entry per PeerId (addresses merged); this node itself is left out. */
export function parsePeers(
  peers: ReadonlyArray<Libp2pFabricOptions['peers'][number]>,
  self: string,
  logger: FabricComponents['logger'],
): ParsedPeer[] {
  const parsed: ParsedPeer[] = []
  for (const peer of peers) {
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer.peerId)
    } catch (error) {
      throw new ConfigError(`fabric peer '${peer.peerId}' is not a valid PeerId`, { cause: error })
    }
    const id = peerId.toString()
    if (id === self) {
      logger.debug('the peer list names this node itself; ignored', { peerId: id })
      continue
    }
    const addrs = peer.addrs.map((address) => {
      const addr = parseMultiaddr(address, `peer ${id}`)
      const named = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (named === undefined) return addr.encapsulate(`/p2p/${id}`)
      if (named !== id)
        throw new ConfigError(
          `fabric peer address ${address} names PeerId ${named}, not ${id}: fix the peer list`,
        )
      return addr
    })
    const existing = parsed.find((p) => p.peerId.toString() === id)
    if (existing) {
      existing.addrs.push(...addrs)
      existing.geo ??= peer.geo
      continue
    }
    parsed.push({ geo: peer.geo, peerId, addrs })
  }
  return parsed
}

/** A multiaddr of the config (`what` names where it was given). */
export function parseMultiaddr(address: string, what: string): Multiaddr {
  try {
    return multiaddr(address)
  } catch (error) {
    throw new ConfigError(`fabric ${what} address '${address}' is not a valid multiaddr`, {
      cause: error,
    })
  }
}

/** Largest pre-shared key file read (the format takes about 90 bytes). */
const MAX_PSK_FILE_BYTES = 4 * 1024

/** Reads a libp2p private-network key file (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits). */
export async function readPsk(file: string): Promise<Uint8Array> {
  let read: Buffer | string
  try {
    read = await readSmallFile(file, MAX_PSK_FILE_BYTES)
  } catch (error) {
    throw new ConfigError(
      `cannot read the fabric pre-shared key ${file} (${(error as Error).message})`,
      { cause: error },
    )
  }
  if (typeof read === 'string')
    throw new ConfigError(`the fabric pre-shared key ${file} is not a key file: ${read}`)
  const text = read.toString('utf8')
  const lines = text.trim().split(/\r?\n/)
  if (
    lines[0] !== '/key/swarm/psk/1.0.0/' ||
    lines[1] !== '/base16/' ||
    !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')
  )
    throw new ConfigError(
      `the fabric pre-shared key ${file} is not in the /key/swarm/psk/1.0.0/ format (three lines: /key/swarm/psk/1.0.0/, /base16/, 64 hex digits)`,
    )
  return new TextEncoder().encode(lines.join('\n'))
}
