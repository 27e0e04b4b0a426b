// The channel between the nodes of one geo: HTTP/1.1 on kept-alive connections (undici pools,
// one per member), on a listener of its own that is never the public gateway. Each call is
// one ask, tell or read of an actor the receiving node owns; the receiver serves it there or
// refuses it (NotOwnerError), never forwards it again. Why HTTP and not libp2p: these calls
// never leave the geo (one network, no Noise handshake needed), undici keeps connections
// warm, and a refusal maps to the same error classes the gateway already answers with.
// geo-channel-server.ts serves calls, geo-channel-client.ts makes them; this file holds what both use.
/** Header carrying the geo's secret on every call between its nodes. */
export const GEO_SECRET_HEADER = 'anywhere-geo-secret'
/** Largest body a call between nodes may carry (the gateway's own default limit). */
export const MAX_GEO_CALL_BYTES = 1024 * 1024
