// JSON text from outside (a request body, a call between the nodes of a geo): its nesting
// scanned before it is parsed, and keys that would poison a prototype refused (`__proto__`,
// and `constructor` holding a `prototype`).
import secureJson from 'secure-json-parse'
import { ValidationError } from '../core/errors.js'

/**
 * Whether the JSON text nests deeper than `maxDepth` (objects and arrays), found by one pass
 * over the characters: no allocation, and it stops at the first level too deep, so a hostile
 * body costs at most one scan before it is refused.
 */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c /* \ */) i++
      else if (c === 0x22 /* " */) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return true
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--
  }
  return false
}

/**
 * Parses a request body (or `what` else): empty is `{}`; the depth is checked before parsing;
 * `__proto__` keys, and `constructor` keys holding a `prototype`, are refused (prototype
 * poisoning; msgpack could not store them either).
 */
export function parseJsonBody(text: string, maxDepth: number, what = 'the request body'): unknown {
  if (text.trim() === '') return {}
  if (jsonNestsDeeperThan(text, maxDepth))
    throw new ValidationError(`${what} nests deeper than ${maxDepth} levels`)
  try {
    return secureJson.parse(text, null, { protoAction: 'error', constructorAction: 'error' })
  } catch (error) {
    throw new ValidationError(`${what} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
