// The inter-geo fabric over libp2p (TCP, Noise, yamux). The polyfill must load before libp2p.
import './polyfill.js'

export { loadOrCreateIdentity } from './identity.js'
export type { NodeIdentity } from './identity.js'
export { libp2pFabric, LIBP2P_FABRIC_DEFAULTS } from './libp2p-fabric.js'
export type { FabricPeerInit, FabricTuning, Libp2pFabricInit } from './libp2p-fabric.js'
export {
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  MAX_EVENTS_PER_FRAME,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  REPLICATION_PROTOCOL,
} from './frames.js'
export type { Frame, HelloFrame } from './frames.js'
