// Readiness and overload of a node: what `/readyz` answers and the fabric advertises.
export { AppendMeter } from './append-meter.js'
export { NodeReadiness } from './node-readiness.js'
export type { NodePhase, NodeReadinessComponents } from './node-readiness.js'
export { OverloadDetector } from './overload-detector.js'
export type { LoadSources, OverloadDetectorComponents } from './overload-detector.js'
export { OVERLOAD_DEFAULTS, overloadInitSchema } from './options.js'
export type { OverloadInit, OverloadOptions } from './options.js'
