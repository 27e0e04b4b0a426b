import { readFile } from 'node:fs/promises'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { ConfigError, LOG_LEVELS, type AnyActorDefinition } from '../core/index.js'
import { gatewayInitSchema } from '../transports/http/index.js'

/** Geo and app names: short, lower-case, usable in file names and headers. */
const NAME = /^[a-z][a-z0-9-]{0,62}$/
const name = (what: string) =>
  z
    .string()
    .regex(NAME, `${what} must be lower-case letters, digits and dashes, starting with a letter`)

const storeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('memory') }).strict(),
  z
    .object({
      kind: z.literal('file'),
      /** Defaults to `<dataDir>/events`. */
      dir: z.string().min(1).optional(),
      segmentBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .optional(),
      /** `all` (default) checks every commit's checksum at start; `tail` only those after the index checkpoint. */
      verify: z.enum(['all', 'tail']).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('redis'),
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
      prefix: z.string().min(1).max(128).optional(),
      commandTimeoutMs: z.number().int().positive().optional(),
    })
    .strict(),
])

const multiaddr = z
  .string()
  .regex(/^\/(ip4|ip6|dns4|dns6|dns)\//, 'must be a multiaddr such as /ip4/127.0.0.1/tcp/7400')

const fabricSchema = z
  .object({
    listen: z.array(multiaddr).min(1),
    peers: z
      .array(
        z
          .object({
            geo: name('peers[].geo').optional(),
            peerId: z.string().min(10),
            addrs: z.array(multiaddr).min(1),
          })
          .strict(),
      )
      .default([]),
    keyFile: z.string().min(1).optional(),
    psk: z.string().min(1).optional(),
  })
  .strict()

/** The node configuration, as a file or a TypeScript module gives it. Every field has a default. */
export const nodeConfigSchema = z
  .object({
    app: name('app').default('anywhere'),
    geo: name('geo').default('local'),
    dataDir: z.string().min(1).default('./.anywhere'),
    http: gatewayInitSchema.prefault({}),
    store: storeSchema.default({ kind: 'file' }),
    fabric: fabricSchema.optional(),
    runtime: z
      .object({
        maxActorsInMemory: z.number().int().positive().optional(),
        idleEvictMs: z.number().int().positive().optional(),
        snapshotEvery: z.number().int().positive().optional(),
        mailboxCapacity: z.number().int().positive().optional(),
        askTimeoutMs: z.number().int().positive().optional(),
        stopTimeoutMs: z.number().int().positive().optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(LOG_LEVELS).default('info'), json: z.boolean().default(false) })
      .strict()
      .prefault({}),
    /** Serve the built-in actors (`counter`, `register`, `set`, `map`). */
    builtInActors: z.boolean().default(true),
    /** Serve the sample app's actors (`cart`). */
    sampleActors: z.boolean().default(true),
  })
  .strict()

export type NodeConfigInput = z.input<typeof nodeConfigSchema>
export type NodeConfig = z.output<typeof nodeConfigSchema>
export type StoreConfig = NodeConfig['store']
export type FabricConfig = NonNullable<NodeConfig['fabric']>

/** What a TypeScript config module may export besides the JSON-able fields: its actors. */
export interface NodeConfigModule extends NodeConfigInput {
  actors?: readonly AnyActorDefinition[]
}

/** Parses a config once, at the boundary; the error names every bad field. */
export function parseNodeConfig(input: unknown, source = 'config'): NodeConfig {
  const parsed = nodeConfigSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map(
    (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
  )
  throw new ConfigError(`invalid ${source}:\n${problems.join('\n')}`, { cause: parsed.error })
}

/** Reads a config file: JSON, or a JS/TS module whose default export (or `config` export) is the config. */
export async function loadConfigFile(
  path: string,
): Promise<{ config: unknown; actors: AnyActorDefinition[] }> {
  const file = resolve(path)
  if (extname(file) === '.json') {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, {
        cause: error,
      })
    }
    try {
      return { config: JSON.parse(text), actors: [] }
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }
  let module: { default?: NodeConfigModule; config?: NodeConfigModule }
  try {
    module = (await import(pathToFileURL(file).href)) as typeof module
  } catch (error) {
    throw new ConfigError(`cannot load config module ${file}: ${(error as Error).message}`, {
      cause: error,
    })
  }
  const exported = module.default ?? module.config
  if (!exported || typeof exported !== 'object')
    throw new ConfigError(
      `config module ${file} must export the config as its default export (or as 'config')`,
    )
  const { actors = [], ...config } = exported
  return { config, actors: [...actors] }
}

/** Overlays `b` on `a`, recursing into plain objects; arrays and other values replace. */
export function mergeConfig(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...a }
  for (const [key, value] of Object.entries(b)) {
    if (value === undefined) continue
    const current = merged[key]
    merged[key] =
      isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value
  }
  return merged
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
