// The package as a user gets it: packed, installed from the tarball into a fresh project
// (packages from the npm cache that npm ci filled; npm may fetch metadata from the
// registry), run on plain node and type-checked under a strict user's flags.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** A child environment without the test suite's switch to run sources through tsx. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.ANYWHERE_NODE_FROM_SOURCE
  delete env.NODE_OPTIONS
  return env
}

async function lockedVersion(name: string): Promise<string> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>
  }
  return lock.packages[`node_modules/${name}`]!.version
}

const APP = `
import { z } from 'zod'
import { defineActor, type StateOf } from 'anywhere-node'
import { createNode } from 'anywhere-node/node'
import { counter } from 'anywhere-node/actors'

export const visits = defineActor({
  type: 'visits',
  initialState: { count: 0 },
  events: { visited: z.object({ page: z.string() }) },
  apply: (state, event) => ({ count: state.count + (event.payload.page ? 1 : 0) }),
  commands: (command) => ({
    visit: command(z.object({ page: z.string() }), (ctx, input) => {
      ctx.emit('visited', { page: input.page })
      return ctx.state.count
    }),
  }),
})

export async function demo(): Promise<number> {
  const node = await createNode(
    { store: { kind: 'memory' }, http: { port: 0 }, log: { level: 'silent' } },
    { actors: [visits] },
  )
  await node.start()
  const count: number = await node.runtime.actor(visits, 'home').ask('visit', { page: '/' })
  const state: StateOf<typeof counter> = await node.runtime.actor(counter, 'c').state()
  await node.stop()
  return count + state.value
}

export default { geo: 'packed', store: { kind: 'memory' }, http: { port: 0 }, actors: [visits] }
`

/** The user's client code: typed by the app's actors through a type-only import. */
const CALLER = `
import { createClient, RemoteValidationError } from 'anywhere-node/client'
import type { visits } from './app.mjs'

const client = createClient<[typeof visits]>(process.argv[2]!)
const count: number = await client.actor('visits', 'home').ask('visit', { page: '/' })
const state: { count: number } = await client.actor('visits', 'home').read()
let refused = ''
try {
  await client.actor('visits', 'home').ask('visit', { page: 42 as unknown as string })
} catch (error) {
  if (error instanceof RemoteValidationError) refused = error.errorName
}
console.log(JSON.stringify({ count, state, refused }))
`

describe('the npm package, installed from its tarball', function () {
  this.timeout(240_000)
  let dir: string
  /** What `npm install` of the tarball printed on stderr. */
  let installWarnings = ''
  let tarball: string

  before(async () => {
    await run('npm', ['run', '-s', 'build'], { cwd: ROOT })
    dir = await mkdtemp(join(tmpdir(), 'anywhere-pack-'))
    const { stdout } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
    )
    const [packed] = JSON.parse(stdout) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>
    tarball = join(dir, packed!.filename)
    const files = packed!.files.map((f) => f.path)
    for (const path of files)
      assert.doesNotMatch(path, /^(test|bench|\.ci|tsconfig|eslint)|\.ts$(?<!\.d\.ts$)/, path)
    assert.ok(files.includes('LICENSE'), 'ships a LICENSE')
    assert.ok(files.includes('dist/core/index.d.ts'), 'ships declarations')
    const app = join(dir, 'app')
    await run('mkdir', ['-p', app])
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'user-app', private: true, type: 'module' }),
    )
    const installed = await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
        `@types/node@${await lockedVersion('@types/node')}`,
      ],
      { cwd: app, env: userEnv(), maxBuffer: 64 * 1024 * 1024 },
    )
    // The floor in `engines` is real: nothing the package pulls in asks for a newer Node.
    installWarnings = installed.stderr
  })

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('installs on this Node without an engine warning (EBADENGINE) from any dependency', () => {
    assert.doesNotMatch(installWarnings, /EBADENGINE/, installWarnings)
  })

  it('installs zod and rxjs as peer dependencies, and the CLI prints its version on plain node', async () => {
    const app = join(dir, 'app')
    const installed = await readdir(join(app, 'node_modules'))
    assert.ok(installed.includes('zod') && installed.includes('rxjs'), installed.join(' '))
    const manifest = JSON.parse(
      await readFile(join(app, 'node_modules', 'anywhere-node', 'package.json'), 'utf8'),
    ) as { version: string; peerDependencies: Record<string, string> }
    assert.ok(manifest.peerDependencies.zod && manifest.peerDependencies.rxjs)
    const { stdout } = await run(
      process.execPath,
      [join(app, 'node_modules', '.bin', 'anywhere-node'), '--version'],
      { cwd: app, env: userEnv() },
    )
    assert.equal(stdout.trim(), manifest.version)
  })

  it('type-checks and compiles a user project (actors and typed client) under --strict, NodeNext, without skipLibCheck', async () => {
    const app = join(dir, 'app')
    await writeFile(join(app, 'app.mts'), APP)
    await writeFile(join(app, 'caller.mts'), CALLER)
    const result = await run(
      process.execPath,
      [
        TSC,
        '--strict',
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        '--target',
        'ES2022',
        '--skipLibCheck',
        'false',
        '--types',
        'node',
        '--outDir',
        'out',
        'app.mts',
        'caller.mts',
      ],
      { cwd: app, env: userEnv() },
    ).catch((error: { stdout?: string; stderr?: string }) => error)
    assert.equal(
      (result as { stdout?: string }).stdout?.trim() ?? '',
      '',
      'tsc reported errors in the user project or the package types',
    )
  })

  it('starts a node from a .mts config on plain node, with no tsx process, and serves the typed client', async () => {
    const app = join(dir, 'app')
    await writeFile(join(app, 'app.mts'), APP)
    const child = spawn(
      process.execPath,
      [
        join(app, 'node_modules', '.bin', 'anywhere-node'),
        '--config',
        'app.mts',
        '--log-level',
        'warn',
      ],
      { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    try {
      let out = ''
      const ready = await new Promise<{ http: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; saw: ${out}`)), 60_000)
        child.stdout.on('data', (data: Buffer) => {
          out += data.toString()
          const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
          if (line) {
            clearTimeout(timer)
            resolve(JSON.parse(line) as { http: string })
          }
        })
        child.stderr.on('data', (data: Buffer) => (out += data.toString()))
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
      })
      // The node and every process it started: none is tsx (only this test's own tree is
      // looked at; other work on the machine may well run tsx).
      const { stdout: tree } = await run('ps', ['-o', 'pid=,ppid=,args=', '-e'])
      const rows = tree
        .trim()
        .split('\n')
        .map((line) => {
          const [pid, ppid, ...args] = line.trim().split(/\s+/)
          return { pid: Number(pid), ppid: Number(ppid), args: args.join(' ') }
        })
      const ours = new Set([child.pid!])
      for (let grew = true; grew;) {
        grew = false
        for (const row of rows)
          if (ours.has(row.ppid) && !ours.has(row.pid)) grew = Boolean(ours.add(row.pid))
      }
      const processes = rows.filter((row) => ours.has(row.pid))
      assert.ok(processes.length > 0, 'the node process is listed')
      for (const row of processes) assert.doesNotMatch(row.args, /\btsx\b/, row.args)
      const response = await fetch(`${ready.http}/v1/actors/visits/home/visit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page: '/' }),
      })
      assert.equal(response.status, 200, await response.clone().text())
      assert.equal(await response.json(), 1)
      // The user's typed client code, compiled by their tsc (previous test), run on plain node.
      const { stdout: called } = await run(
        process.execPath,
        [join(app, 'out', 'caller.mjs'), ready.http],
        { cwd: app, env: userEnv() },
      )
      assert.deepEqual(JSON.parse(called), {
        count: 2,
        state: { count: 2 },
        refused: 'ValidationError',
      })
    } finally {
      child.kill('SIGTERM')
    }
  })
})
