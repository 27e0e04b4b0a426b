// The inter-geo fabric over libp2p (TCP, Noise, yamux). The polyfill must load before libp2p.
import './polyfill.js'

export { loadOrCreateIdentity } from './identity.js'
export type { NodeIdentity } from './identity.js'
export { libp2pFabric, LIBP2P_FABRIC_DEFAULTS } from './libp2p-fabric.js'
export type { Libp2pFabricInit, FabricPeerInit } from './libp2p-fabric.js'
