// Reusable, merge-friendly actors, built on the same public API as user actors.
import { counter } from './counter.js'
import { lwwMap } from './lww-map.js'
import { orSet } from './or-set.js'
import { register } from './register.js'

export { counter } from './counter.js'
export { lwwMap, MAX_MAP_KEY_LENGTH } from './lww-map.js'
export { orSet, setElements, MAX_SET_ELEMENT_LENGTH } from './or-set.js'
export type { OrSetState } from './or-set.js'
export { register } from './register.js'

/** The built-in actors every node serves: `counter`, `register`, `set`, `map`. */
export const builtInActors = [counter, register, orSet, lwwMap] as const
