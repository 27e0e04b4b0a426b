// anywhere-node/client must run in a browser: walk its import graph from client/index.ts
// and refuse anything that needs Node (node: modules, packages, Node-only globals).
import assert from 'node:assert/strict'
import { builtinModules } from 'node:module'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { REPO_ROOT } from '../support/scratch-module.js'

/** Node's own modules, with and without the `node:` prefix. */
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
/** Globals that exist in Node only. */
const NODE_ONLY_GLOBALS = /\b(process\.|Buffer\b|require\(|__dirname|__filename)/

interface ImportStatement {
  readonly specifier: string
  /** `import type` / `export type`: erased by the compiler, so never loaded. */
  readonly typeOnly: boolean
}

/** The import and re-export statements of a TypeScript source (comments stripped first). */
function importsOf(source: string): ImportStatement[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const statements = [
    ...code.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    ...code.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
  ]
  const dynamic = [...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)]
  return [
    ...statements.map((m) =>
      m.length === 4
        ? { specifier: m[3]!, typeOnly: m[2] !== undefined }
        : { specifier: m[1]!, typeOnly: false },
    ),
    ...dynamic.map((m) => ({ specifier: m[1]!, typeOnly: false })),
  ]
}

/** Every file loaded at run time from `entry`, and every import that breaks the rules. */
async function walk(entry: string): Promise<{ files: string[]; problems: string[] }> {
  const seen = new Set<string>()
  const problems: string[] = []
  const queue = [resolve(REPO_ROOT, entry)]
  while (queue.length > 0) {
    const file = queue.shift()!
    if (seen.has(file)) continue
    seen.add(file)
    const name = relative(REPO_ROOT, file)
    const source = await readFile(file, 'utf8')
    const global = NODE_ONLY_GLOBALS.exec(source.replace(/^\s*\/\/.*$/gm, ''))
    if (global) problems.push(`${name} uses the Node-only global ${global[1]}`)
    for (const { specifier, typeOnly } of importsOf(source)) {
      if (NODE_BUILTINS.has(specifier) || specifier.startsWith('node:'))
        problems.push(`${name} imports ${specifier}${typeOnly ? ' (even as a type)' : ''}`)
      else if (typeOnly) continue
      else if (!specifier.startsWith('.'))
        problems.push(`${name} loads the package ${specifier} at run time`)
      else queue.push(join(dirname(file), specifier.replace(/\.js$/, '.ts')))
    }
  }
  return { files: [...seen].map((f) => relative(REPO_ROOT, f)), problems }
}

describe('anywhere-node/client is browser-safe', () => {
  it('loads nothing from node:, no package, no Node-only global, and stays inside client/', async () => {
    const { files, problems } = await walk('client/index.ts')
    assert.deepEqual(problems, [])
    assert.ok(files.length >= 4, `walked ${files.join(', ')}`)
    for (const file of files) assert.match(file, /^client\//, `the client loads ${file}`)
  })

  it('the walk sees through re-exports and tells type imports from loads', () => {
    assert.deepEqual(
      importsOf(
        [
          "import type { A } from '../core/actor.js'",
          "import { b, type C } from './b.js'",
          "export { d } from './d.js'",
          "export type { E } from './e.js'",
          "import 'node:fs'",
          "// import { f } from 'node:os'",
        ].join('\n'),
      ),
      [
        { specifier: '../core/actor.js', typeOnly: true },
        { specifier: './b.js', typeOnly: false },
        { specifier: './d.js', typeOnly: false },
        { specifier: './e.js', typeOnly: true },
        { specifier: 'node:fs', typeOnly: false },
      ],
    )
  })
})
