// The actor types a node serves: the built-in and sample ones its config turns on, and the
// user's own, with no two of one name.
import { builtInActors } from '../actors/index.js'
import { ConfigError, type AnyActorDefinition } from '../core/index.js'
import { sampleActors } from '../samples/index.js'
import type { NodeConfig } from './config.js'

/**
 * The actor types a node of this config serves: built-in, sample and `extra` ones. Two of one
 * name are refused with a ConfigError naming the fix (also used by `anywhere-node check`).
 */
export function servedActors(
  config: Pick<NodeConfig, 'builtInActors' | 'sampleActors'>,
  extra: readonly AnyActorDefinition[] = [],
): AnyActorDefinition[] {
  const builtIn = [
    ...(config.builtInActors ? builtInActors : []),
    ...(config.sampleActors ? sampleActors : []),
  ]
  const actors = [...builtIn, ...extra]
  refuseDuplicateActorTypes(actors, builtIn)
  return actors
}

/** For a type this node does not serve: the setting that would serve it, if it is built in. */
export function servingHint(
  config: Pick<NodeConfig, 'builtInActors' | 'sampleActors'>,
  type: string,
): string | undefined {
  if (!config.builtInActors && builtInActors.some((d) => d.type === type))
    return `'${type}' is a built-in actor type, served when the config sets builtInActors: true (or with anywhere-node --built-in-actors)`
  if (!config.sampleActors && sampleActors.some((d) => d.type === type))
    return `'${type}' is a sample actor type, served when the config sets sampleActors: true (or with anywhere-node --sample-actors)`
  return undefined
}

/** Two actor types of one name: refused before anything starts, naming the fix. */
function refuseDuplicateActorTypes(
  actors: readonly AnyActorDefinition[],
  builtIn: readonly AnyActorDefinition[],
): void {
  const seen = new Set<string>()
  for (const { type } of actors) {
    if (!seen.has(type)) {
      seen.add(type)
      continue
    }
    const flag = builtInActors.some((d) => d.type === type)
      ? 'builtInActors'
      : sampleActors.some((d) => d.type === type)
        ? 'sampleActors'
        : undefined
    const fix =
      flag && builtIn.some((d) => d.type === type)
        ? `it is a built-in actor type: rename yours, or set ${flag}: false (the default with a config file) to serve yours instead`
        : 'rename one of them'
    throw new ConfigError(`actor type '${type}' is registered twice; ${fix}`)
  }
}
