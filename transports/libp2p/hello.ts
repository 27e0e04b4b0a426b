import type { VersionVector } from '../../core/index.js'
import { PROTOCOL_VERSION, type HelloFrame } from './frames.js'

/** Who this node says it is in a hello. */
export interface HelloIdentity {
  appName: string
  geo: string
  nodeId: string
}

/** The hello this node opens (as the sender) or answers (as the receiver) a session with. */
export function helloFrame(mine: HelloIdentity, vector: VersionVector): HelloFrame {
  return {
    t: 'hello',
    protocol: PROTOCOL_VERSION,
    app: mine.appName,
    geo: mine.geo,
    node: mine.nodeId,
    vector,
  }
}

/** Checks a peer's hello against ours; returns the refusal reason, if any. */
export function helloMismatch(mine: { appName: string }, theirs: HelloFrame): string | undefined {
  if (theirs.protocol !== PROTOCOL_VERSION)
    return `protocol version ${theirs.protocol} is not supported (this node speaks ${PROTOCOL_VERSION}): upgrade the older node`
  if (theirs.app !== mine.appName)
    return `app '${theirs.app}' is not this fabric's app '${mine.appName}': check the app name and the peer list`
  return undefined
}
