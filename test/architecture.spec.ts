// The layering rules of STYLE.md, checked on the source itself.
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BACKENDS = /^(ioredis|libp2p|@libp2p\/|@chainsafe\/|fastify|@multiformats\/)/

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
}

async function imports(file: string): Promise<string[]> {
  const text = await readFile(join(ROOT, file), 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map(
    (m) => m[1]!,
  )
}

describe('architecture', () => {
  it('core/ and support/ import no backend (no ioredis, libp2p, fastify)', async () => {
    for (const dir of ['core', 'support'])
      for (const file of await sources(dir))
        for (const spec of await imports(file))
          assert.doesNotMatch(spec, BACKENDS, `${file} imports ${spec}`)
  })

  it('core/, support/, actors/ and samples/ never import stores/, transports/, node/ or bin/', async () => {
    for (const dir of ['core', 'support', 'actors', 'samples'])
      for (const file of await sources(dir))
        for (const spec of await imports(file))
          assert.doesNotMatch(spec, /(stores|transports|node|bin)\//, `${file} imports ${spec}`)
  })

  it('support/ takes from core/ only its errors', async () => {
    for (const file of await sources('support'))
      for (const spec of await imports(file))
        if (spec.includes('/core/'))
          assert.match(spec, /\/core\/errors\.js$/, `${file} imports ${spec}`)
  })

  it('stores/ and transports/ reach core/ only through its public index, and no other backend', async () => {
    for (const dir of ['stores', 'transports'])
      for (const file of await sources(dir))
        for (const spec of await imports(file)) {
          if (spec.includes('/core/'))
            assert.match(spec, /\/core\/index\.js$/, `${file} imports ${spec}`)
          assert.doesNotMatch(
            spec,
            /\.\.\/\.\.\/(stores|transports|node|bin)\//,
            `${file} imports ${spec}`,
          )
        }
  })

  it('the public index of core/ exports no internal helper', async () => {
    const text = await readFile(join(ROOT, 'core/index.ts'), 'utf8')
    assert.doesNotMatch(text, /support\//)
    for (const name of [
      'applyDefaults',
      'raceAbort',
      'syncDirectory',
      'insertSorted',
      'upperBound',
    ])
      assert.doesNotMatch(text, new RegExp(`\\b${name}\\b`), `core/index.ts exports ${name}`)
  })
})
