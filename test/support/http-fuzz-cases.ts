// The cases the gateway fuzzer draws: each a short list of requests, either through fetch
// (well-formed HTTP with hostile content) or on a raw socket (malformed framing and pacing).
import type { SeededRandom } from './seeded-random.js'
import { FUZZ_ID_PREFIX, rawCase, type FetchStep, type FuzzCase } from './http-fuzz-raw-cases.js'

export { FUZZ_ID_PREFIX } from './http-fuzz-raw-cases.js'
export type { FetchStep, FuzzCase, RawStep } from './http-fuzz-raw-cases.js'

/** Bodies over the node's limit (1 MiB): the server may answer 413 and close while the client still sends. */
const OVER_BODY_LIMIT = 1024 * 1024

const PROTOTYPE_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'prototype',
]
const TYPES = ['counter', 'register', 'set', 'map', 'cart', 'nope', 'Counter', ...PROTOTYPE_NAMES]
const COMMANDS = [
  'increment',
  'decrement',
  'set',
  'add',
  'put',
  'delete',
  'remove',
  'checkout',
  'nope',
  ...PROTOTYPE_NAMES,
]
const METHODS = ['GET', 'POST', 'HEAD', 'OPTIONS', 'PATCH', 'PUT', 'DELETE', 'PROPFIND', 'X-FUZZ']
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  ';;;',
  'application/json, text/plain',
]
/** A command with a body it accepts, per actor type. */
const VALID: ReadonlyArray<[string, string, (rng: SeededRandom) => unknown]> = [
  ['counter', 'increment', (rng) => ({ by: rng.int(1, 1000) })],
  ['counter', 'decrement', (rng) => ({ by: rng.int(1, 10) })],
  ['counter', 'increment', () => ({})],
  ['register', 'set', (rng) => ({ value: rng.pick([1, 'x', null, [1, 2], { a: { b: 'c' } }]) })],
  ['set', 'add', (rng) => ({ element: `e${rng.int(0, 20)}` })],
  ['set', 'remove', (rng) => ({ element: `e${rng.int(0, 20)}` })],
  ['map', 'put', (rng) => ({ key: `k${rng.int(0, 9)}`, value: rng.int(0, 99) })],
  ['map', 'delete', (rng) => ({ key: `k${rng.int(0, 9)}` })],
  ['cart', 'add', (rng) => ({ sku: `s${rng.int(0, 9)}`, quantity: rng.int(1, 5) })],
  ['cart', 'checkout', () => ({})],
]

function fuzzId(rng: SeededRandom): string {
  return rng.pick([
    `${FUZZ_ID_PREFIX}${rng.int(0, 7)}`,
    `${FUZZ_ID_PREFIX}-${'i'.repeat(256 - FUZZ_ID_PREFIX.length - 1)}`,
    `${FUZZ_ID_PREFIX}-${'j'.repeat(257 - FUZZ_ID_PREFIX.length - 1)}`,
    `${FUZZ_ID_PREFIX}${encodeURIComponent('é€😀')}`,
    `${FUZZ_ID_PREFIX}%zz`,
    `${FUZZ_ID_PREFIX}%`,
    `${FUZZ_ID_PREFIX}%00x`,
    `${FUZZ_ID_PREFIX}%2F..%2F`,
    `${FUZZ_ID_PREFIX}${'%C3%A9'.repeat(300)}`,
    `${FUZZ_ID_PREFIX}%E0%A4%A`,
    ...PROTOTYPE_NAMES,
  ])
}

function segment(rng: SeededRandom, names: readonly string[]): string {
  return rng.chance(0.85) ? rng.pick(names) : rng.pick(['', '%zz', '..', 'é', 'x'.repeat(257)])
}

/** A random path: real routes with hostile segments, unknown routes, junk. */
function fuzzPath(rng: SeededRandom): string {
  const query = rng.chance(0.1)
    ? rng.pick(['?a=1', '?__proto__[x]=1', '?kind=' + 'k,'.repeat(500), '?%zz', '?actor=a/b/c'])
    : ''
  switch (rng.int(0, 5)) {
    case 0:
      return `/v1/actors/${segment(rng, TYPES)}/${fuzzId(rng)}/${segment(rng, COMMANDS)}${query}`
    case 1:
      return `/v1/actors/${segment(rng, TYPES)}/${fuzzId(rng)}${query}`
    case 2:
      return rng.pick(['/healthz', '/v1/actors', '/v1/fabric', '/v1/taps', '/readyz']) + query
    case 3:
      return rng.pick([
        '/',
        '/v1',
        '/v1/actors/',
        '/v1/actors/counter',
        `/v1/actors/counter/${FUZZ_ID_PREFIX}1/increment/extra`,
        `/v1/actors/counter/${FUZZ_ID_PREFIX}1/../../healthz`,
        '/../../etc/passwd',
        '//v1//actors',
        '/%',
        '/%00',
        '/v1/actors/%E2%80%AE/x',
      ])
    case 4:
      return '/' + 'a'.repeat(rng.pick([1_000, 9_000, 20_000, 70_000]))
    default:
      return `/v1/actors/${rng.pick(TYPES)}/${fuzzId(rng)}/${rng.pick(COMMANDS)}`
  }
}

/** A random body: valid inputs, wrong types, deep or huge, invalid UTF-8, prototype keys, empty. */
function fuzzBody(rng: SeededRandom): string | Uint8Array {
  switch (rng.int(0, 11)) {
    case 0:
      return ''
    case 1:
      return JSON.stringify(rng.pick(VALID)[2](rng))
    case 2:
      return JSON.stringify(
        rng.pick([
          { by: 'x' },
          { by: -1 },
          { by: 1e300 },
          { by: 1.5 },
          [],
          null,
          'str',
          1,
          true,
          { value: undefined },
        ]),
      )
    case 3: {
      const depth = rng.pick([31, 32, 33, 100, 10_000])
      return '{"by":'.repeat(depth) + '1' + '}'.repeat(depth)
    }
    case 4:
      return '['.repeat(rng.pick([33, 50_000])) + ']'.repeat(rng.pick([0, 33]))
    case 5:
      return JSON.stringify({ value: 'x'.repeat(rng.pick([60_000, 300_000, 1_100_000])) })
    case 6:
      return Uint8Array.from([0x7b, 0x22, 0x62, 0x79, 0x22, 0x3a, 0xff, 0xfe, 0xc3, 0x28, 0x7d])
    case 7:
      return rng.pick([
        '{"__proto__":{"polluted":1}}',
        '{"constructor":{"prototype":{"polluted":1}}}',
        '{"by":1,"__proto__":{"by":2}}',
        '{"value":{"__proto__":[]}}',
        '{"key":"__proto__","value":1}',
        '{"sku":"__proto__"}',
        '{"element":"constructor"}',
      ])
    case 8:
      return rng.pick([
        '{',
        '{"by":1',
        'nul',
        '{"by":1}{"by":2}',
        '\u0000',
        '\ufeff{"by":1}',
        '{"by":0x10}',
      ])
    case 9:
      return JSON.stringify({
        by: 1,
        extra: 'x'.repeat(rng.int(0, 5_000)),
        n: Array.from({ length: rng.int(0, 500) }, (_, i) => i),
      })
    default:
      return JSON.stringify(rng.pick(VALID)[2](rng))
  }
}

function fetchCase(rng: SeededRandom, index: number): FuzzCase {
  const coherent = rng.chance(0.35)
  const [type, command, valid] = rng.pick(VALID)
  const method = coherent ? 'POST' : rng.pick(METHODS)
  const path = coherent
    ? `/v1/actors/${type}/${FUZZ_ID_PREFIX}${rng.int(0, 7)}/${command}`
    : fuzzPath(rng)
  const headers: Record<string, string> = {}
  if (rng.chance(0.8)) headers['content-type'] = rng.pick(CONTENT_TYPES)
  if (rng.chance(0.05)) headers['x-filler'] = 'f'.repeat(rng.int(1, 15_000))
  const key = rng.chance(0.25)
    ? rng.pick(['', 'k', 'k'.repeat(256), 'k'.repeat(257), ' ', `key-${index}`, 'shared-key'])
    : undefined
  if (key !== undefined) headers['idempotency-key'] = key
  const body =
    method === 'GET' || method === 'HEAD'
      ? undefined
      : coherent
        ? JSON.stringify(valid(rng))
        : fuzzBody(rng)
  const step: FetchStep = {
    kind: 'fetch',
    answer: body !== undefined && body.length > OVER_BODY_LIMIT ? 'optional' : 'required',
    method,
    path,
    headers,
    ...(body !== undefined ? { body } : {}),
  }
  const steps: FetchStep[] = [step]
  // The same key again: once with the same body (a retry), or with another body (refused).
  if (key !== undefined && body !== undefined && rng.chance(0.5))
    steps.push({ ...step, body: rng.chance(0.5) ? body : JSON.stringify(valid(rng)) })
  if (rng.chance(0.1)) {
    // A burst of concurrent identical requests on fresh connections is in the concurrency of the run.
    steps.push({
      kind: 'fetch',
      answer: 'required',
      method: 'GET',
      path: `/v1/actors/${type}/${FUZZ_ID_PREFIX}${rng.int(0, 7)}`,
      headers: {},
    })
  }
  const shown = path.length > 120 ? `${path.slice(0, 120)}…(${path.length})` : path
  const label = `#${index} ${method} ${shown} headers ${JSON.stringify(headers).slice(0, 120)} body(${body?.length ?? 'none'})`
  return { label, steps }
}

/** Case `index` of a run, drawn from `rng` (the run's generator forked for this case). */
export function cases(rng: SeededRandom, index: number): FuzzCase {
  return rng.chance(0.3) ? rawCase(rng, index, fuzzPath(rng)) : fetchCase(rng, index)
}
