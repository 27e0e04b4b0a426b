// `anywhere-node check --config FILE`: type errors with the user's file:line:col, schema
// errors by field, exit 0 / 2, and no node started.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { NODE_BIN as BIN, runNodeCommand } from '../support/node-process.js'
import { REPO_ROOT, scratchDir, scratchModule } from '../support/scratch-module.js'

/** A config module with one type error, at 4:11 (a port given as a string). */
const TYPO_CONFIG = `import type { NodeConfigModule } from 'anywhere-node/node'
const config: NodeConfigModule = {
  geo: 'lab',
  http: { port: 'eighty' },
}
export default config
`

/** `check` of TYPO_CONFIG written at `file`: its one error at the user's file:line:col, exit 2. */
async function assertTypoReported(file: string): Promise<void> {
  const shown = relative(REPO_ROOT, file)
  const { code, stderr } = await runNodeCommand(['check', '--config', file])
  assert.equal(code, 2, stderr)
  assert.ok(
    stderr.includes(`${file}:4:11: error TS2322`) || stderr.includes(`${shown}:4:11: error TS2322`),
    stderr,
  )
  assert.match(stderr, /does not type-check \(1 error\)/)
}

/**
 * Installs in `dir` a `typescript` package shaped like TypeScript 7's: its main gives only a
 * version, and `bin/tsc` is a program (here `tscSource`).
 */
async function typeScript7Shaped(dir: string, tscSource: string): Promise<void> {
  const typescript = join(dir, 'node_modules', 'typescript')
  await mkdir(join(typescript, 'bin'), { recursive: true })
  await writeFile(
    join(typescript, 'package.json'),
    JSON.stringify({ name: 'typescript', version: '7.0.0', main: 'version.cjs' }),
  )
  await writeFile(join(typescript, 'version.cjs'), `module.exports = { version: '7.0.0' }\n`)
  await writeFile(join(typescript, 'bin', 'tsc'), tscSource)
}

describe('anywhere-node check', function () {
  this.timeout(60_000)
  let dir: string
  const cleanups: Array<() => Promise<void>> = []

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anywhere-check-'))
  })

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('a valid JSON config: config OK with its geo, store and actor types, exit 0, without starting a node', async () => {
    // Its gateway port is held: a check that started a node would fail on it.
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
    const port = (server.address() as { port: number }).port
    const config = join(dir, 'node.json')
    await writeFile(
      config,
      JSON.stringify({
        geo: 'lab',
        store: { kind: 'memory' },
        http: { port },
        builtInActors: true,
        sampleActors: true,
      }),
    )
    const { code, stdout, stderr } = await runNodeCommand(['check', '--config', config])
    assert.equal(code, 0, stderr)
    assert.match(
      stdout,
      /^config OK: geo lab, store memory, 5 actor types \(counter, register, set, map, cart\)$/m,
    )
  })

  it('a config file serves no built-in actor unless it asks: says so, exit 0', async () => {
    const config = join(dir, 'node.json')
    await writeFile(config, JSON.stringify({ geo: 'lab', store: { kind: 'memory' } }))
    const { code, stdout, stderr } = await runNodeCommand(['check', '--config', config])
    assert.equal(code, 0, stderr)
    assert.match(
      stdout,
      /^config OK: geo lab, store memory, no actor types \(.*builtInActors: true\)$/m,
    )
  })

  it('a JSON config with a bad field: names it, exit 2', async () => {
    const config = join(dir, 'bad.json')
    await writeFile(config, JSON.stringify({ geo: 'Lab', stor: {} }))
    const { code, stderr } = await runNodeCommand(['check', '--config', config])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /geo: geo must be lower-case/)
    assert.match(stderr, /stor/)
  })

  it("a TypeScript config with a type error: the error at the user's file:line:col, exit 2", async () => {
    const { file, remove } = await scratchModule('typo.config.mts', TYPO_CONFIG)
    cleanups.push(remove)
    await assertTypoReported(file)
  })

  it("a TypeScript with no compiler API for JavaScript (7 and later): its tsc is run, the error at the user's file:line:col", async () => {
    // The project's own `typescript` is a package shaped like TypeScript 7's (its main gives
    // only a version; `bin/tsc` is a program): here its tsc is the repository's TypeScript 5
    // tsc, whose `--pretty false` lines are the same as TypeScript 7's. TypeScript 7 itself
    // cannot be installed next to 5 (both take node_modules/.bin/tsc).
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await typeScript7Shaped(
      dir,
      `require(${JSON.stringify(join(REPO_ROOT, 'node_modules', 'typescript', 'lib', 'tsc.js'))})\n`,
    )
    // A project that builds incrementally: the check must leave no .tsbuildinfo behind.
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(REPO_ROOT, 'tsconfig.json'),
        compilerOptions: { incremental: true, tsBuildInfoFile: './build.tsbuildinfo' },
      }),
    )
    const file = join(dir, 'typo.config.mts')
    await writeFile(file, TYPO_CONFIG)
    await assertTypoReported(file)

    await writeFile(file, `export default { geo: 'lab', store: { kind: 'memory' } }\n`)
    const fixed = await runNodeCommand(['check', '--config', file])
    assert.equal(fixed.code, 0, fixed.stderr)
    assert.match(fixed.stdout, /^config OK: geo lab, store memory/m)
    // Nothing of the check is left in the project: its tsconfig, a build info.
    const left = (await readdir(dir)).filter((f) => f !== 'node_modules')
    assert.deepEqual(left.sort(), ['tsconfig.json', 'typo.config.mts'])
  })

  it('Ctrl-C while tsc runs: the scratch tsconfig is removed and check ends by the signal', async () => {
    // The project's tsc (a TypeScript 7 shape, as above) writes its pid and then hangs.
    const dir = await scratchDir()
    const pidFile = join(dir, 'tsc.pid')
    cleanups.push(async () => {
      const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''))
      if (pid > 0)
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone already, as it should be
        }
      await rm(dir, { recursive: true, force: true })
    })
    await typeScript7Shaped(
      dir,
      `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid))\nsetTimeout(() => {}, 60_000)\n`,
    )
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true } }),
    )
    const file = join(dir, 'app.config.mts')
    await writeFile(file, `export default { geo: 'lab', store: { kind: 'memory' } }\n`)
    const child = spawn(process.execPath, [BIN, 'check', '--config', file], { stdio: 'ignore' })
    cleanups.push(async () => void child.kill('SIGKILL'))
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    )
    const scratch = async () =>
      (await readdir(dir)).filter((f) => f.startsWith('tsconfig.anywhere-check-'))
    for (let i = 0; i < 600 && !existsSync(pidFile); i++)
      await new Promise((resolve) => setTimeout(resolve, 50))
    assert.ok(existsSync(pidFile), 'the project tsc never started')
    assert.equal((await scratch()).length, 1, 'the scratch tsconfig while tsc runs')
    child.kill('SIGINT')
    assert.equal(await exited, 'SIGINT')
    assert.deepEqual(await scratch(), [])
    // The project's tsc did not outlive it.
    const tscPid = Number(await readFile(pidFile, 'utf8'))
    const alive = () => {
      try {
        process.kill(tscPid, 0)
        return true
      } catch {
        return false
      }
    }
    for (let i = 0; i < 100 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(alive(), false, `tsc (pid ${tscPid}) still runs`)
  })

  it('a .ts config in a CommonJS project (no "type": "module"): its default export is the config, exit 0', async () => {
    const dir = await scratchDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'commonjs' }))
    // The project's own settings (the repository's tsconfig would refuse CommonJS files).
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', types: [] } }),
    )
    const file = join(dir, 'cjs.config.ts')
    // With another named export beside the default one.
    await writeFile(
      file,
      `export const region = 'eu'\nexport default { geo: 'lab', store: { kind: 'memory' as const } }\n`,
    )
    const { code, stdout, stderr } = await runNodeCommand(['check', '--config', file])
    assert.equal(code, 0, stderr)
    assert.match(stdout, /^config OK: geo lab, store memory/m)
  })

  it('a TypeScript config module that type-checks and adds the built-in counter again: exit 2 naming the fix', async () => {
    const { file, remove } = await scratchModule(
      'dup.config.mts',
      `import { z } from 'zod'
import { defineActor } from 'anywhere-node'
const counter = defineActor({
  type: 'counter',
  initialState: { n: 0 },
  events: { added: z.object({}) },
  apply: (state) => ({ n: state.n + 1 }),
  commands: (command) => ({
    add: command(z.object({}), (ctx) => {
      ctx.emit('added', {})
      return ctx.state
    }),
  }),
})
export default { store: { kind: 'memory' as const }, builtInActors: true, actors: [counter] }
`,
    )
    cleanups.push(remove)
    const { code, stderr } = await runNodeCommand(['check', '--config', file])
    assert.equal(code, 2, stderr)
    assert.doesNotMatch(stderr, /error TS/)
    assert.match(stderr, /actor type 'counter' is registered twice; .*builtInActors: false/)

    // Without builtInActors: true (the default with a config file) its own counter is served.
    const own = await scratchModule(
      'own.config.mts',
      (await readFile(file, 'utf8')).replace('builtInActors: true, ', ''),
    )
    cleanups.push(own.remove)
    const served = await runNodeCommand(['check', '--config', own.file])
    assert.equal(served.code, 0, served.stderr)
    assert.match(served.stdout, /^config OK: geo local, store memory, 1 actor type \(counter\)$/m)
  })
})
