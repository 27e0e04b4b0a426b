// The inter-geo fabric over libp2p (TCP, Noise, yamux). The polyfill must load before libp2p.
import './polyfill.js'

export { loadOrCreateIdentity, sharedIdentity } from './identity.js'
export type { NodeIdentity } from './identity.js'
export { libp2pFabric } from './libp2p-fabric.js'
export type { Libp2pFabric, Libp2pFabricStatus } from './libp2p-fabric.js'
export {
  fabricPeerInitSchema,
  LIBP2P_FABRIC_DEFAULTS,
  libp2pFabricInitSchema,
  parseLibp2pFabricInit,
} from './options.js'
export type {
  FabricPeerInit,
  FabricTuning,
  Libp2pFabricInit,
  Libp2pFabricOptions,
} from './options.js'
export type { Libp2pPeerStatus } from './session.js'
export type { HelloSizes } from './session.js'
export type { RetiredBase } from './retired-origins.js'
export { MAX_NOTICE_LIVE, MAX_NOTICE_RETIRED } from './frames.js'
export {
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  MAX_EVENTS_PER_FRAME,
  MAX_FRAME_BYTES,
  MAX_FRAME_DEPTH,
  MAX_FRAME_PAYLOAD_DEPTH,
  PROTOCOL_VERSION,
  REPLICATION_PROTOCOL,
} from './frames.js'
export type { Frame, HelloFrame } from './frames.js'
