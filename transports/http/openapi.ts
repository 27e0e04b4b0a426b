// What a node serves, described for other programs: each actor type's schemas as JSON
// Schema (GET /v1/actors) and an OpenAPI 3.1 document of the gateway (GET /v1/openapi.json).
// Both are built once when the gateway is created: actor types do not change at run time.
import { z } from 'zod'
import { MAX_NAME_LENGTH, type ActorRuntime } from '../../core/index.js'
import { IDEMPOTENCY_KEY_MAX_LENGTH } from './options.js'

type JsonSchema = Record<string, unknown>
/** The actor types a runtime serves, with their types erased. */
type ActorTypes = ActorRuntime['actorTypes']

/** One actor type as `GET /v1/actors` lists it. */
export interface ActorCatalogEntry {
  readonly type: string
  readonly commands: Record<string, { readonly input: JsonSchema }>
  readonly events: Record<string, { readonly payload: JsonSchema }>
}

/**
 * A zod schema as JSON Schema (draft 2020-12). One that JSON Schema cannot express (a Date,
 * a custom check, a transform's output) becomes `{}` with a `$comment` saying so: the node
 * still validates it; only its description is missing. Never throws.
 */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: 'throw', cycles: 'ref' }) as JsonSchema
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return {
      $comment: `not representable as JSON Schema (${reason}); the node validates it all the same`,
    }
  }
}

/** Each actor type with its commands' inputs and its events' payloads as JSON Schema. */
export function actorCatalog(definitions: ActorTypes): ActorCatalogEntry[] {
  return definitions.map((d) => ({
    type: d.type,
    commands: Object.fromEntries(
      Object.entries(d.commands).map(([name, c]) => [
        name,
        { input: toJsonSchema(c.input, 'input') },
      ]),
    ),
    events: Object.fromEntries(
      Object.entries(d.events).map(([name, e]) => [name, { payload: toJsonSchema(e, 'output') }]),
    ),
  }))
}

/** The errors a command may answer, as `GET /v1/openapi.json` lists them. */
const COMMAND_ERRORS: Readonly<Record<string, string>> = {
  '400': 'ValidationError: the input does not match the schema, or the body is not JSON',
  '404': 'UnknownActorTypeError, UnknownCommandError or NotFound',
  '413': 'PayloadTooLargeError: the body is over the node limit',
  '422': 'IdempotencyKeyReusedError: the key was used with another body',
  '500': 'HandlerError (the handler threw; nothing was persisted) or AskCycleError',
  '503': 'OverloadedError, StoreUnavailableError or NotRunningError: retry later',
  '504': 'AskTimeoutError: no reply in time; the command may still run',
}
const READ_ERRORS = ['400', '404', '503'] as const

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'the error class name, e.g. ValidationError' },
    message: { type: 'string' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: {
          path: { type: 'array', items: { type: 'string' } },
          message: { type: 'string' },
          code: { type: 'string' },
        },
      },
    },
    servedTypes: {
      type: 'array',
      items: { type: 'string' },
      description: 'with UnknownActorTypeError: the actor types this node serves',
    },
  },
}

/** The OpenAPI 3.1 document of a gateway serving `definitions`. */
export function openApiDocument(definitions: ActorTypes): JsonSchema {
  const schemas: Record<string, JsonSchema> = { Error: ERROR_SCHEMA }
  const names = new ComponentNames()
  const paths: Record<string, Record<string, unknown>> = {}
  const idParameter = {
    name: 'id',
    in: 'path',
    required: true,
    schema: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
  }
  for (const definition of definitions) {
    const type = encodeURIComponent(definition.type)
    paths[`/v1/actors/${type}/{id}`] = {
      get: {
        operationId: names.operation(`${definition.type}_read`),
        tags: [definition.type],
        summary: `The state of a ${definition.type} (its view when it declares one)`,
        parameters: [idParameter],
        responses: {
          '200': { description: 'the state', content: { 'application/json': { schema: {} } } },
          ...Object.fromEntries(READ_ERRORS.map((s) => [s, errorResponse(COMMAND_ERRORS[s]!)])),
        },
      },
    }
    paths[`/v1/actors/${type}/{id}/history`] = {
      get: {
        operationId: names.operation(`${definition.type}_history`),
        tags: [definition.type],
        summary: `The events of a ${definition.type} in merge order, with the geo each was written in`,
        parameters: [
          idParameter,
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: 'the latest events returned (default 200)',
            schema: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        ],
        responses: {
          '200': {
            description: '{ type, id, total, events: [{ origin, geo, seq, hlc, type, payload }] }',
            content: { 'application/json': { schema: {} } },
          },
          ...Object.fromEntries(READ_ERRORS.map((s) => [s, errorResponse(COMMAND_ERRORS[s]!)])),
        },
      },
    }
    for (const [command, { input }] of Object.entries(definition.commands)) {
      const name = names.schema(`${definition.type}.${command}.input`)
      Object.assign(schemas, liftDefinitions(name, toJsonSchema(input, 'input')))
      const commandPath = `/v1/actors/${type}/{id}/${encodeURIComponent(command)}`
      // A command named `history` shares its path with the GET of the history.
      paths[commandPath] = {
        ...paths[commandPath],
        post: {
          operationId: names.operation(`${definition.type}_${command}`),
          tags: [definition.type],
          summary: `Sends '${command}' to a ${definition.type}`,
          parameters: [
            idParameter,
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description: 'a retry with the same key gets the first reply; the command runs once',
              schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX_LENGTH },
            },
          ],
          requestBody: {
            description: 'the input; an empty body is {}',
            required: false,
            content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
          },
          responses: {
            '200': {
              description: "the handler's reply",
              content: { 'application/json': { schema: {} } },
            },
            ...Object.fromEntries(
              Object.entries(COMMAND_ERRORS).map(([s, text]) => [s, errorResponse(text)]),
            ),
          },
        },
      }
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'anywhere-node gateway',
      version: 'v1',
      description: 'Commands and reads of the actors this node serves.',
    },
    paths,
    components: { schemas },
  }
}

function errorResponse(description: string): JsonSchema {
  return {
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  }
}

/**
 * A schema and its `$defs` as components: `$defs` refs (`#/$defs/x`) resolve against the
 * document root once embedded, so each definition becomes a component of its own and the
 * refs are rewritten to point at it.
 */
function liftDefinitions(name: string, schema: JsonSchema): Record<string, JsonSchema> {
  const { $schema: _dialect, $defs, ...root } = schema
  const defs = ($defs ?? {}) as Record<string, JsonSchema>
  const target = (ref: string): string => {
    if (ref === '#') return `#/components/schemas/${name}`
    const def = /^#\/\$defs\/(.+)$/.exec(ref)?.[1]
    return def === undefined ? ref : `#/components/schemas/${componentKey(`${name}.${def}`)}`
  }
  const lifted: Record<string, JsonSchema> = { [name]: rewriteRefs(root, target) as JsonSchema }
  for (const [def, value] of Object.entries(defs))
    lifted[componentKey(`${name}.${def}`)] = rewriteRefs(value, target) as JsonSchema
  return lifted
}

function rewriteRefs(value: unknown, target: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, target))
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' ? target(v) : rewriteRefs(v, target),
    ]),
  )
}

/** A component key OpenAPI accepts (`^[a-zA-Z0-9._-]+$`). */
function componentKey(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_')
}

/** Unique component keys and operation ids: names that only differ by a refused character stay apart. */
class ComponentNames {
  private readonly used = new Set<string>()

  schema(name: string): string {
    return this.unique(componentKey(name))
  }

  operation(name: string): string {
    return this.unique(name.replace(/[^a-zA-Z0-9_]/g, '_'))
  }

  private unique(base: string): string {
    let name = base
    for (let n = 2; this.used.has(name); n++) name = `${base}_${n}`
    this.used.add(name)
    return name
  }
}
