// `anywhere-node check --config FILE`: type-checks a TypeScript config module (when the
// TypeScript compiler is installed) and validates the config, without starting a node.
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path'
import { ConfigError } from '../core/index.js'
import { loadConfigFile, parseNodeConfig } from '../node/index.js'
import { servedActors } from '../node/served-actors.js'
// Types only (erased): the compiler itself is imported lazily, if installed.
import type * as TypeScript from 'typescript'

/** Most diagnostics printed; the rest are counted. */
const MAX_DIAGNOSTICS = 50

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx'])

/** Checks the config at `path`; resolves to the exit code (0 valid, 2 invalid). */
export async function checkConfig(
  path: string,
  print: (line: string) => void,
  printError: (line: string) => void,
): Promise<number> {
  const file = resolve(path)
  if (TYPESCRIPT_EXTENSIONS.has(extname(file))) {
    const errors = await typeCheck(file, print)
    if (errors.length > 0) {
      for (const line of errors.slice(0, MAX_DIAGNOSTICS)) printError(line)
      if (errors.length > MAX_DIAGNOSTICS)
        printError(`... and ${errors.length - MAX_DIAGNOSTICS} more`)
      printError(`anywhere-node: ${path} does not type-check (${errors.length} errors)`)
      return 2
    }
  }
  try {
    const { config: input, actors } = await loadConfigFile(file)
    const config = parseNodeConfig(input, `config ${path}`)
    const served = servedActors(config, actors)
    const types =
      served.length > 0
        ? `${served.length} actor type${served.length === 1 ? '' : 's'} (${served.map((a) => a.type).join(', ')})`
        : 'no actor types (list yours in a config module as actors: [...], or set builtInActors: true)'
    print(`config OK: geo ${config.geo}, store ${config.store.kind}, ${types}`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    printError(`anywhere-node: ${error.message}`)
    return 2
  }
}

/**
 * The type errors of `file` as `file:line:col: message`, with the compiler options of the
 * nearest tsconfig.json (else strict NodeNext). TypeScript is loaded only here, and only if
 * installed: without it the check says so and goes on.
 */
async function typeCheck(file: string, print: (line: string) => void): Promise<string[]> {
  let ts: typeof TypeScript
  try {
    ts = ((await import('typescript')) as unknown as { default: typeof TypeScript }).default
  } catch {
    print(
      `type check skipped: the TypeScript compiler is not installed (npm install --save-dev typescript enables it)`,
    )
    return []
  }
  let options: TypeScript.CompilerOptions = {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
  }
  const tsconfig = ts.findConfigFile(dirname(file), (f) => ts.sys.fileExists(f))
  if (tsconfig) {
    const read = ts.readConfigFile(tsconfig, (f) => ts.sys.readFile(f))
    if (!read.error)
      options = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(tsconfig)).options
  }
  const program = ts.createProgram([file], { ...options, noEmit: true })
  const source = program.getSourceFile(file)
  const diagnostics = ts.getPreEmitDiagnostics(program, source)
  return diagnostics
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
      if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
      const where = relative(process.cwd(), d.file.fileName)
      const name = where.startsWith('..') || isAbsolute(where) ? d.file.fileName : where
      return `${name}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`
    })
}
