// Options parsing shared by the backends.

/** The defaults overlaid with the fields `init` sets (an `undefined` field keeps its default). */
export function applyDefaults<D extends object>(defaults: D, init: Partial<D>): D {
  const set = Object.fromEntries(Object.entries(init).filter(([, value]) => value !== undefined))
  return { ...defaults, ...set } as D
}
