import { join } from 'node:path'
import type { Fabric, FabricComponents, FabricFactory, FabricStatus } from '../../core/fabric.js'
import { loadOrCreateIdentity } from './identity.js'

/** One allowlisted peer geo. */
export interface FabricPeerInit {
  /** The peer's geo name (learned from the handshake when omitted). */
  geo?: string
  /** The peer's PeerId: only this key may connect as this peer. */
  peerId: string
  /** Where to dial it (multiaddrs, with or without the trailing `/p2p/<PeerId>`). */
  addrs: string[]
}

/** What a user configures about the fabric. */
export interface Libp2pFabricInit {
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/7400`. */
  listen: string[]
  /** The allowlist: every other PeerId is refused. */
  peers: FabricPeerInit[]
  /** The identity key file; default `<dataDir>/peer-key`. */
  keyFile?: string
  /** A pre-shared key file (libp2p private network): peers without it cannot even handshake. */
  psk?: string
}

export const LIBP2P_FABRIC_DEFAULTS = {} as const

/** The fabric factory: `libp2pFabric(init)` returns what the node calls with its components. */
export function libp2pFabric(init: Libp2pFabricInit): FabricFactory {
  return (components) => new Libp2pFabric(init, components)
}

class Libp2pFabric implements Fabric {
  peerId = ''
  constructor(
    private readonly init: Libp2pFabricInit,
    private readonly components: FabricComponents,
  ) {}
  async start(): Promise<void> {
    const identity = await loadOrCreateIdentity(
      this.init.keyFile ?? join(this.components.dataDir, 'peer-key'),
    )
    this.peerId = identity.peerId
  }
  async stop(): Promise<void> {}
  listenAddresses(): string[] {
    return []
  }
  status(): FabricStatus {
    return { peerId: this.peerId, listen: [], peers: [] }
  }
}
