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
  it('core/ imports no backend (no ioredis, libp2p, fastify)', async () => {
    for (const file of await sources('core')) {
      for (const spec of await imports(file))
        assert.doesNotMatch(spec, BACKENDS, `${file} imports ${spec}`)
    }
  })

  it('core/, actors/ and samples/ never import transports/ or bin/', async () => {
    for (const dir of ['core', 'actors', 'samples']) {
      for (const file of await sources(dir)) {
        for (const spec of await imports(file))
          assert.doesNotMatch(spec, /transports\/|bin\//, `${file} imports ${spec}`)
      }
    }
  })

  it('transports/ reach into core/ only through its public index', async () => {
    for (const file of await sources('transports')) {
      for (const spec of await imports(file)) {
        if (spec.includes('/core/'))
          assert.match(spec, /\/core\/index\.js$/, `${file} imports ${spec}`)
      }
    }
  })
})
