// Options parsing shared by every component that takes an init: once, at the boundary.
import type { z } from 'zod'
import { ConfigError, issuesText } from '../core/errors.js'

/**
 * Parses `init` with `schema` (filling its defaults); an invalid init throws ConfigError
 * naming every bad field, prefixed with `what` (e.g. `file store`).
 */
export function parseInit<S extends z.ZodType>(
  schema: S,
  init: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(init)
  if (parsed.success) return parsed.data
  throw new ConfigError(`invalid ${what} options: ${issuesText(parsed.error.issues)}`, {
    cause: parsed.error,
  })
}
