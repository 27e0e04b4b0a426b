import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { readSmallFile } from '../support/small-file.js'
import {
  ConfigError,
  LOG_LEVELS,
  runtimeSettingsSchema,
  type AnyActorDefinition,
} from '../core/index.js'
// The backends' option schemas, not their index: the config never loads ioredis or libp2p.
import { fileStoreInitSchema } from '../stores/file/options.js'
import { redisStoreInitSchema } from '../stores/redis/options.js'
import { libp2pFabricInitSchema } from '../transports/libp2p/options.js'
import { gatewayInitSchema } from '../transports/http/index.js'
import { LOG_FORMATS } from './pino-logger.js'
import { overloadInitSchema } from './load/options.js'

/** Geo and app names: short, lower-case, usable in file names and headers. */
const NAME = /^[a-z][a-z0-9-]{0,62}$/
const name = (what: string) =>
  z
    .string()
    .regex(NAME, `${what} must be lower-case letters, digits and dashes, starting with a letter`)

// Each backend declares its own fields once (with their limits and defaults); the node's
// config composes those schemas and adds only what it decides itself.
const storeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('memory') }).strict(),
  fileStoreInitSchema
    .extend({
      kind: z.literal('file'),
      /** Defaults to `<dataDir>/events`. */
      dir: z.string().min(1).optional(),
    })
    .strict(),
  redisStoreInitSchema.safeExtend({ kind: z.literal('redis') }).strict(),
])

const fabricSchema = libp2pFabricInitSchema.omit({ random: true }).strict()

/** The defaults of the `members` settings (a geo of several nodes sharing one Redis). */
export const MEMBERS_DEFAULTS = {
  timeoutMs: 3_000,
  heartbeatMs: 1_000,
  host: '127.0.0.1',
  port: 0,
} as const

/**
 * A geo of several nodes: the nodes that share the geo's Redis (same url and prefix) find
 * each other there, each actor is placed on one of them, and requests are forwarded inside
 * the geo. Off by default: a node is a geo of its own and pays nothing for it.
 */
const membersSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** A node that has not renewed its registration for this long drops out; its actors move. */
    timeoutMs: z.number().int().min(200).max(600_000).default(MEMBERS_DEFAULTS.timeoutMs),
    /** How often a node renews its registration: at most half the timeout. */
    heartbeatMs: z.number().int().min(50).max(300_000).default(MEMBERS_DEFAULTS.heartbeatMs),
    /** Where the channel between the geo's nodes listens (never the public gateway). */
    host: z.string().min(1).default(MEMBERS_DEFAULTS.host),
    /** Its port; 0 takes any free one. */
    port: z.number().int().min(0).max(65_535).default(MEMBERS_DEFAULTS.port),
    /** The address the other nodes reach this one at, when it is not `tcp://host:port` (NAT, 0.0.0.0). */
    url: z
      .string()
      .regex(/^tcp:\/\/[^/]+:\d+$/, 'must be a tcp://host:port address')
      .optional(),
  })
  .strict()
  .refine((m) => m.heartbeatMs * 2 <= m.timeoutMs, {
    message:
      'heartbeatMs must be at most half of timeoutMs (a node renews at least twice per timeout)',
    path: ['heartbeatMs'],
  })

/** The node configuration, as a file or a TypeScript module gives it. Every field has a default. */
export const nodeConfigSchema = z
  .object({
    app: name('app').default('anywhere'),
    geo: name('geo').default('local'),
    dataDir: z.string().min(1).default('./.anywhere'),
    http: gatewayInitSchema.prefault({}),
    store: storeSchema.prefault({ kind: 'file' }),
    fabric: fabricSchema.optional(),
    members: membersSchema.prefault({}),
    runtime: runtimeSettingsSchema.prefault({}),
    /** When the node calls itself overloaded (`/readyz` 503, edges shed to other geos). */
    overload: overloadInitSchema.prefault({}),
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
        /** `auto`: JSON lines when stderr is not a terminal, one readable line per entry on one. */
        format: z.enum(LOG_FORMATS).default('auto'),
        /** `true` is `format: 'json'`, `false` is `format: 'pretty'` (the `--log-json` flag). */
        json: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
    /** Prometheus metrics at `GET /metrics` (admin scope when `http.auth` is set). */
    metrics: z
      .object({ enabled: z.boolean().default(true) })
      .strict()
      .prefault({}),
    /**
     * Serve the built-in actors (`counter`, `register`, `set`, `map`). On by default for a node
     * with no config file; off when a config file is given (see CONFIG_FILE_DEFAULTS).
     */
    builtInActors: z.boolean().default(true),
    /** Serve the sample app's actors (`cart`); on and off as `builtInActors`. */
    sampleActors: z.boolean().default(true),
  })
  .strict()
  .refine((config) => !config.members.enabled || config.store.kind === 'redis', {
    message:
      'members.enabled needs the Redis store: the nodes of a geo share its Redis (store: { kind: "redis", url } or { kind: "redis", cluster: [...] })',
    path: ['members', 'enabled'],
  })

export type NodeConfigInput = z.input<typeof nodeConfigSchema>
export type NodeConfig = z.output<typeof nodeConfigSchema>
export type StoreConfig = NodeConfig['store']
export type FabricConfig = NonNullable<NodeConfig['fabric']>

/**
 * What a config file leaves out defaults to this: a node started from the user's config serves
 * the user's actors only. The built-in and sample actors (the zero-config node's tour) are
 * served when the config asks (`builtInActors: true`, `sampleActors: true`).
 */
export const CONFIG_FILE_DEFAULTS = { builtInActors: false, sampleActors: false } as const

/** What a TypeScript config module may export besides the JSON-able fields: its actors. */
export interface NodeConfigModule extends NodeConfigInput {
  actors?: readonly AnyActorDefinition[]
}

/**
 * Types a config module's default export: `export default defineConfig({ geo: 'eu', ... })`.
 * A wrong field or value is a compile error in the user's editor; the node still validates
 * the config when it starts (or with `anywhere-node check`).
 */
export function defineConfig(config: NodeConfigModule): NodeConfigModule {
  return config
}

/** Most problems a config error lists (a list of 100,000 bad items is not 100,000 lines). */
export const MAX_LISTED_ISSUES = 20
/** Largest JSON config file read (a JSON config is a few KB; a device or a runaway file is refused). */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024

/** Parses a config once, at the boundary; the error names every bad field (the first MAX_LISTED_ISSUES). */
export function parseNodeConfig(input: unknown, source = 'config'): NodeConfig {
  const parsed = nodeConfigSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const { issues } = parsed.error
  const problems = issues
    .slice(0, MAX_LISTED_ISSUES)
    .map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  if (issues.length > MAX_LISTED_ISSUES)
    problems.push(`  ... and ${issues.length - MAX_LISTED_ISSUES} more`)
  throw new ConfigError(`invalid ${source}:\n${problems.join('\n')}`, { cause: parsed.error })
}

/**
 * Reads a config file: JSON, or a JS/TS module whose default export (or `config` export) is the
 * config. The fields it leaves out of CONFIG_FILE_DEFAULTS take those values.
 */
export async function loadConfigFile(
  path: string,
): Promise<{ config: unknown; actors: AnyActorDefinition[] }> {
  const { config, actors } = await readConfigFile(resolve(path))
  return {
    config: isPlainObject(config) ? mergeConfig({ ...CONFIG_FILE_DEFAULTS }, config) : config,
    actors,
  }
}

async function readConfigFile(
  file: string,
): Promise<{ config: unknown; actors: AnyActorDefinition[] }> {
  if (extname(file) === '.json') {
    let text: string
    try {
      text = await readJsonFile(file)
    } catch (error) {
      if (error instanceof ConfigError) throw error
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, {
        cause: error,
      })
    }
    try {
      // A byte order mark (as some Windows editors save) is not part of the JSON.
      return { config: JSON.parse(text.replace(/^\uFEFF/, '')), actors: [] }
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }
  let module: { default?: NodeConfigModule; config?: NodeConfigModule }
  try {
    module = (await importConfigModule(file)) as typeof module
  } catch (error) {
    // tsx names a .mts or .cts file as .ts in its syntax errors: the user's file is named here.
    const ext = extname(file)
    const message = String((error as Error).message).replaceAll(
      `${file.slice(0, -ext.length)}.ts:`,
      `${file}:`,
    )
    throw new ConfigError(`cannot load config module ${file}: ${message}`, { cause: error })
  }
  const exported = commonJsExport(module.default) ?? module.default ?? module.config
  if (!exported || typeof exported !== 'object')
    throw new ConfigError(
      `config module ${file} must export the config as its default export (or as 'config')`,
    )
  const { actors = [], ...config } = exported
  return { config, actors: [...actors] }
}

/**
 * The config of a module compiled to CommonJS (a `.ts` file in a project whose package.json
 * does not say `"type": "module"`): importing it gives `{ default: module.exports }`, so its
 * own default export (or `config`) is one level down. Undefined for any other module.
 */
function commonJsExport(exported: unknown): NodeConfigModule | undefined {
  if (!isPlainObject(exported)) return undefined
  // Marked so by the compiler (esbuild, through tsx), whatever else the module exports.
  if (exported.__esModule === true) {
    const inner = exported.default ?? exported.config
    return isPlainObject(inner) ? (inner as NodeConfigModule) : undefined
  }
  const keys = Object.keys(exported).filter((key) => key !== '__esModule')
  if (keys.length !== 1 || (keys[0] !== 'default' && keys[0] !== 'config')) return undefined
  const inner = exported[keys[0]]
  return isPlainObject(inner) ? (inner as NodeConfigModule) : undefined
}

/**
 * A JSON config file's text: a regular file of at most MAX_CONFIG_FILE_BYTES (a pipe or a
 * device, such as a link to /dev/zero, would never end the read).
 */
async function readJsonFile(file: string): Promise<string> {
  const bytes = await readSmallFile(file, MAX_CONFIG_FILE_BYTES)
  if (typeof bytes === 'string')
    throw new ConfigError(`config file ${file} cannot be a JSON config: ${bytes}`)
  return bytes.toString('utf8')
}

/** Overlays `b` on `a`, recursing into plain objects; arrays and other values replace. */
export function mergeConfig(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...a }
  for (const [key, value] of Object.entries(b)) {
    if (value === undefined) continue
    const current = Object.hasOwn(merged, key) ? merged[key] : undefined
    // Defined, not assigned: a `__proto__` key (JSON.parse makes it an own key) stays a key
    // the schema refuses, rather than becoming the merged object's prototype.
    Object.defineProperty(merged, key, {
      value: isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return merged
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** TypeScript config files go through tsx (loaded only for them); JavaScript ones through Node itself. */
async function importConfigModule(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href
  if (!/\.[cm]?ts$/.test(file)) return import(url)
  const { tsImport } = await import('tsx/esm/api')
  return tsImport(url, import.meta.url)
}
