// The edge: one address for every geo (`anywhere-node edge`).
export { Edge, edge, GEO_HEADER } from './edge.js'
export { isLoopback } from './proxy-headers.js'
export type { EdgeComponents } from './edge.js'
export { EDGE_DEFAULTS, MAX_EDGE_GEOS, edgeInitSchema } from './options.js'
export type { EdgeInit, EdgeOptions } from './options.js'
export { byDistance, chooseGeo } from './route-choice.js'
export type { GeoView, RouteChoice } from './route-choice.js'
