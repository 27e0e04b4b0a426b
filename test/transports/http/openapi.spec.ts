// GET /v1/actors carries each command's input and each event's payload as JSON Schema;
// GET /v1/openapi.json describes every command and read of the node's actors.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { createNode, type AnywhereNode } from '../../../node/node.js'
import { defineActor } from '../../../core/index.js'

/** An actor whose input zod can validate but JSON Schema cannot describe (a Date). */
const calendar = defineActor({
  type: 'calendar',
  initialState: { days: 0 },
  events: { booked: z.object({ at: z.date() }) },
  apply: (state) => ({ days: state.days + 1 }),
  commands: (command) => ({
    book: command(z.object({ at: z.date() }), (ctx) => ctx.state),
    ping: command(z.object({}), (ctx) => ctx.state),
  }),
})

type JsonObject = Record<string, unknown>

interface Catalog {
  actors: Array<{
    type: string
    commands: Record<string, { input: JsonObject }>
    events: Record<string, { payload: JsonObject }>
  }>
}

/** Every `$ref` in a document, with where it was found. */
function refsOf(value: unknown, at = '#'): Array<{ ref: string; at: string }> {
  if (typeof value !== 'object' || value === null) return []
  const own =
    typeof (value as JsonObject).$ref === 'string'
      ? [{ ref: (value as JsonObject).$ref as string, at }]
      : []
  return [...own, ...Object.entries(value).flatMap(([key, child]) => refsOf(child, `${at}/${key}`))]
}

/** Resolves a local JSON pointer (`#/a/b`) in `document`, or undefined. */
function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined
  let node: unknown = document
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined
    node = (node as JsonObject)[key]
  }
  return node
}

describe('HTTP gateway: JSON Schema and OpenAPI', function () {
  this.timeout(20_000)
  let node: AnywhereNode
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-openapi-'))
    node = await createNode(
      {
        dataDir: dir,
        store: { kind: 'memory' },
        http: { port: 0 },
        log: { level: 'silent' },
      },
      { actors: [calendar] },
    )
    await node.start()
  })

  after(async () => {
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const getJson = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${node.gateway!.url}${path}`)
    assert.equal(response.status, 200, `GET ${path}`)
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
    return (await response.json()) as T
  }

  it('GET /v1/actors gives each command input and event payload as JSON Schema', async () => {
    const { actors } = await getJson<Catalog>('/v1/actors')
    const counter = actors.find((a) => a.type === 'counter')
    assert.ok(counter, 'the counter is listed')
    assert.deepEqual(Object.keys(counter.commands).sort(), ['decrement', 'increment'])
    const input = counter.commands.increment!.input as {
      type: string
      properties: { by: { type: string; default: number } }
      required?: string[]
    }
    assert.equal(input.type, 'object')
    assert.equal(input.properties.by.type, 'integer')
    assert.equal(input.properties.by.default, 1)
    assert.ok(!input.required?.includes('by'), 'by has a default: a caller may leave it out')
    const payload = counter.events.incremented!.payload as {
      properties: { by: { type: string } }
      required: string[]
    }
    assert.equal(payload.properties.by.type, 'integer')
    assert.deepEqual(payload.required, ['by'])
  })

  it('a schema JSON Schema cannot express becomes {} with a note, and the others are served', async () => {
    const { actors } = await getJson<Catalog>('/v1/actors')
    const entry = actors.find((a) => a.type === 'calendar')!
    const book = entry.commands.book!.input
    assert.deepEqual(Object.keys(book), ['$comment'])
    assert.match(String(book.$comment), /not representable/)
    assert.equal(entry.commands.ping!.input.type, 'object')
    assert.match(String(entry.events.booked!.payload.$comment), /not representable/)
  })

  it('GET /v1/openapi.json is an OpenAPI 3.1 document: a path per command, reads, errors, refs that resolve', async () => {
    const doc = await getJson<{
      openapi: string
      info: { title: string; version: string }
      paths: Record<string, Record<string, JsonObject>>
      components: { schemas: Record<string, JsonObject> }
    }>('/v1/openapi.json')
    assert.equal(doc.openapi, '3.1.0')
    assert.ok(doc.info.title && doc.info.version)
    const { actors } = await getJson<Catalog>('/v1/actors')
    for (const actor of actors) {
      const read = doc.paths[`/v1/actors/${actor.type}/{id}`]?.get
      assert.ok(read, `GET of ${actor.type}`)
      for (const command of Object.keys(actor.commands)) {
        const post = doc.paths[`/v1/actors/${actor.type}/{id}/${command}`]?.post as
          | {
              requestBody: { content: { 'application/json': { schema: JsonObject } } }
              responses: Record<string, JsonObject>
              parameters: Array<{ name: string; in: string }>
              operationId: string
            }
          | undefined
        assert.ok(post, `POST ${actor.type}.${command}`)
        assert.ok(post.requestBody.content['application/json'].schema.$ref)
        assert.deepEqual(
          post.parameters.map((p) => `${p.in}:${p.name}`),
          ['path:id', 'header:Idempotency-Key'],
        )
        for (const status of ['200', '400', '404', '413', '422', '500', '503', '504'])
          assert.ok(post.responses[status], `${actor.type}.${command} answers ${status}`)
      }
    }
    const operationIds = Object.values(doc.paths).flatMap((p) =>
      Object.values(p).map((o) => o.operationId),
    )
    assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds are unique')

    const counterInput = resolvePointer(
      doc,
      String(
        (
          doc.paths['/v1/actors/counter/{id}/increment']!.post as {
            requestBody: { content: { 'application/json': { schema: { $ref: string } } } }
          }
        ).requestBody.content['application/json'].schema.$ref,
      ),
    ) as { properties: { by: { type: string } } }
    assert.equal(counterInput.properties.by.type, 'integer')

    const refs = refsOf(doc)
    assert.ok(refs.length > 0)
    for (const { ref, at } of refs)
      assert.notEqual(resolvePointer(doc, ref), undefined, `${ref} at ${at} resolves`)
    // the map's values are recursive JSON: its definitions were lifted into components
    assert.ok(refs.some((r) => r.at.startsWith('#/components/schemas/map.')))
    const error = resolvePointer(doc, '#/components/schemas/Error') as { required: string[] }
    assert.deepEqual(error.required, ['error', 'message'])
  })
})
