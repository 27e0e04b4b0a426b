// Loaded before every spec (see .mocharc.json).
// libp2p 3.x calls Promise.withResolvers, which Node only has from 22.
import '../transports/libp2p/polyfill.js'

// Node processes the tests start run the TypeScript sources, never a possibly stale dist/.
process.env.ANYWHERE_NODE_FROM_SOURCE = '1'
