// `anywhere-node check --config FILE`: type-checks a TypeScript config module (when the
// TypeScript compiler is installed) and validates the config, without starting a node.
import { execFile, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
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
      printError(
        `anywhere-node: ${path} does not type-check (${errors.length} error${errors.length === 1 ? '' : 's'})`,
      )
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
 * nearest tsconfig.json (else strict NodeNext), by the TypeScript the config's project has
 * (else the one next to this package). Loaded only here, and only if installed: without it
 * the check says so and goes on. A TypeScript with no compiler API for JavaScript (7 and
 * later, a native program) is run as its `tsc`.
 */
async function typeCheck(file: string, print: (line: string) => void): Promise<string[]> {
  const compiler = findTypeScript(file)
  if (!compiler) {
    print(
      `type check skipped: the TypeScript compiler is not installed (npm install --save-dev typescript enables it)`,
    )
    return []
  }
  const ts = compiler.load()
  if (typeof (ts as Partial<typeof TypeScript>).createProgram === 'function')
    return checkWithApi(ts as typeof TypeScript, file)
  return checkWithTsc(compiler.dir, file, print)
}

/** Where `typescript` resolves from the config file's directory, else from this package. */
function findTypeScript(file: string): { dir: string; load: () => unknown } | undefined {
  for (const from of [file, fileURLToPath(import.meta.url)]) {
    const require = createRequire(from)
    let manifest: string
    try {
      manifest = require.resolve('typescript/package.json')
    } catch {
      continue
    }
    return { dir: dirname(manifest), load: () => require('typescript') as unknown }
  }
  return undefined
}

function checkWithApi(ts: typeof TypeScript, file: string): string[] {
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
      return `${shownPath(d.file.fileName)}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`
    })
}

/** Longest a `tsc` run may take before the check gives up on it. */
const TSC_TIMEOUT_MS = 120_000

/**
 * Runs the `tsc` of the TypeScript in `dir` on `file` alone, through a tsconfig of its own
 * that extends the nearest one (or holds the defaults). That tsconfig is written next to the
 * one it extends (or next to `file`), for a moment, so that what tsc resolves from its
 * directory (`node_modules/@types`, relative paths) is the project's; in the system's temp
 * dir when that directory is not writable.
 */
async function checkWithTsc(
  dir: string,
  file: string,
  print: (line: string) => void,
): Promise<string[]> {
  const nearest = existingAbove(dirname(file), 'tsconfig.json')[0]
  const home = nearest ? dirname(nearest) : dirname(file)
  const settings = (typeRoots?: string[]) =>
    JSON.stringify({
      ...(nearest ? { extends: nearest } : {}),
      compilerOptions: {
        ...(nearest
          ? {}
          : {
              strict: true,
              module: 'nodenext',
              moduleResolution: 'nodenext',
              target: 'es2022',
              skipLibCheck: true,
            }),
        // A check writes nothing: no .tsbuildinfo of a project that builds incrementally.
        incremental: false,
        composite: false,
        tsBuildInfoFile: null,
        ...(typeRoots ? { typeRoots } : {}),
      },
      files: [file],
      include: [],
    })
  const name = `tsconfig.anywhere-check-${process.pid}-${randomUUID().slice(0, 8)}.json`
  let project = join(home, name)
  let scratch: string | undefined
  let tsc: ChildProcess | undefined
  // Ctrl-C (or a kill) while tsc runs: tsc and the scratch config go too, then the signal
  // does what it would have done (unless the host process handles it itself).
  const onSignal = (signal: NodeJS.Signals) => {
    tsc?.kill('SIGKILL')
    try {
      rmSync(scratch ?? project, { recursive: true, force: true })
    } catch {
      // Ending by the signal matters more than the scratch file.
    }
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const signal of signals) process.once(signal, onSignal)
  try {
    try {
      await writeFile(project, settings(), { flag: 'wx' })
    } catch {
      // Not writable there: from the temp dir, tsc would look for @types there, so the
      // project's are named.
      scratch = await mkdtemp(join(tmpdir(), 'anywhere-check-'))
      project = join(scratch, name)
      await writeFile(project, settings(existingAbove(home, join('node_modules', '@types'))), {
        flag: 'wx',
      })
    }
    const run = await new Promise<{ code: number | null; output: string; error?: Error }>(
      (done) => {
        tsc = execFile(
          process.execPath,
          [join(dir, 'bin', 'tsc'), '-p', project, '--noEmit', '--pretty', 'false'],
          { timeout: TSC_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
            done({ code, output: `${stdout}${stderr}`, error: error ?? undefined })
          },
        )
      },
    )
    if (run.code === 0) return []
    const errors = tscErrors(run.output)
    if (errors.length > 0) return errors
    print(
      `type check skipped: the TypeScript compiler in ${dir} did not run (${run.error?.message ?? `exit ${run.code}`}): ${run.output.trim().slice(0, 500)}`,
    )
    return []
  } finally {
    for (const signal of signals) process.off(signal, onSignal)
    await rm(scratch ?? project, { recursive: true, force: true })
  }
}

/** `tsc --pretty false` errors (`file(line,col): error TSn: text`, indented lines go on) as ours. */
function tscErrors(output: string): string[] {
  const errors: string[] = []
  for (const line of output.split(/\r?\n/)) {
    const located = /^(.+)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line)
    if (located) {
      const [, name, row, column, code, text] = located
      errors.push(`${shownPath(resolve(name!))}:${row}:${column}: error ${code}: ${text}`)
    } else if (/^error TS\d+: /.test(line)) errors.push(line)
    else if (/^\s+\S/.test(line) && errors.length > 0)
      errors[errors.length - 1] += `\n  ${line.trim()}`
  }
  return errors
}

/** `name` (a relative path) in `dir` and every directory above it, where it exists, nearest first. */
function existingAbove(dir: string, name: string): string[] {
  const found: string[] = []
  for (let at = dir, i = 0; i < 256; i++) {
    const candidate = join(at, name)
    if (existsSync(candidate)) found.push(candidate)
    const parent = dirname(at)
    if (parent === at) break
    at = parent
  }
  return found
}

/** A path relative to the working directory when it is under it, else absolute. */
function shownPath(path: string): string {
  const where = relative(process.cwd(), path)
  return where.startsWith('..') || isAbsolute(where) ? path : where
}
