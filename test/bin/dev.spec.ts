// `anywhere-node dev` end to end: three real geos, a write crosses them, a partition made
// through the control endpoint lets both sides write, the heal converges them, and SIGINT
// leaves no process behind.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processesWith } from '../support/processes.js'

const BIN = fileURLToPath(new URL('../../bin/anywhere-node.mjs', import.meta.url))

/** Polls `check` every 100 ms until it returns a value other than undefined, or fails at the deadline. */
async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: Error | undefined
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error instanceof Error ? error : new Error(String(error))
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('anywhere-node dev', function () {
  this.timeout(180_000)
  let dataDir: string
  let dev: ChildProcess | undefined
  let childPids: number[] = []
  let output = ''

  afterEach(async () => {
    // Whatever a failed test left running.
    if (dev && dev.exitCode === null && dev.signalCode === null) dev.kill('SIGKILL')
    for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  })

  it('runs three geos, partitions and heals them from its control endpoint, and leaves no process on SIGINT', async function () {
    dataDir = await mkdtemp(join(tmpdir(), 'anywhere-dev-'))
    const args = ['dev', '--data-dir', dataDir, '--http-port', '0', '--control-port', '0']
    dev = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) =>
      dev!.once('exit', (code) => resolve(code)),
    )
    dev.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    dev.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const fail = (message: string) =>
      assert.fail(`${message}\n--- dev output ---\n${output.slice(-20_000)}`)

    const ready = await until('the dev.ready line', 120_000, async () => {
      const line = output.split('\n').find((l) => l.startsWith('{"event":"dev.ready"'))
      if (dev!.exitCode !== null) fail('dev exited before it was ready')
      return line
        ? (JSON.parse(line) as { control: string; geos: Record<string, string> })
        : undefined
    }).catch((error: Error) => fail(error.message))
    assert.deepEqual(Object.keys(ready.geos), ['a', 'b', 'c'])
    for (const name of ['a', 'b', 'c'])
      assert.match(output, new RegExp(`dev: geo ${name}  http://127\\.0\\.0\\.1:\\d+`))
    assert.match(output, /^\[a\] /m, "geo a's log lines are prefixed")

    const status = (await (await fetch(`${ready.control}/status`)).json()) as {
      geos: Array<{ name: string; pid: number; running: boolean }>
    }
    childPids = status.geos.map((g) => g.pid)
    assert.equal(childPids.length, 3)
    // Every geo is a child of the dev process (tsx may add a helper process of its own).
    const geoProcesses = (await processesWith(`${dataDir}/`)).filter((p) => p.ppid === dev!.pid)
    assert.deepEqual(geoProcesses.map((p) => p.pid).sort(), [...childPids].sort())

    const command = async (geo: string, by: number) => {
      const reply = await fetch(`${ready.geos[geo]}/v1/actors/counter/likes/increment`, {
        method: 'POST',
        body: JSON.stringify({ by }),
      })
      assert.equal(reply.status, 200)
      return ((await reply.json()) as { value: number }).value
    }
    const read = async (geo: string) =>
      (
        (await (await fetch(`${ready.geos[geo]}/v1/actors/counter/likes`)).json()) as {
          value: number
        }
      ).value
    const reads = (geo: string, value: number, timeoutMs = 60_000) =>
      until(`geo ${geo} to read ${value}`, timeoutMs, async () =>
        (await read(geo)) === value ? true : undefined,
      ).catch((error: Error) => fail(error.message))

    // A write in a reaches c.
    assert.equal(await command('a', 1), 1)
    await reads('c', 1)
    await reads('b', 1)

    // Cut b off: each side writes and sees only its own write.
    const cut = await fetch(`${ready.control}/partition/b`, { method: 'POST' })
    assert.equal(cut.status, 200)
    const unknown = await fetch(`${ready.control}/partition/z`, { method: 'POST' })
    assert.equal(unknown.status, 404)
    await until('b to lose its peers', 60_000, async () => {
      const geos = (
        (await (await fetch(`${ready.control}/status`)).json()) as {
          geos: Array<{
            name: string
            partitioned: boolean
            fabric: { peers: Array<{ connected: boolean }> }
          }>
        }
      ).geos
      const b = geos.find((g) => g.name === 'b')!
      return b.partitioned && b.fabric.peers.every((p) => !p.connected) ? true : undefined
    }).catch((error: Error) => fail(error.message))
    assert.equal(await command('b', 10), 11)
    assert.equal(await command('a', 100), 101)
    assert.equal(await read('b'), 11, 'the partition holds: b has not seen a write of a')

    // The stdin commands answer too.
    dev.stdin!.write('status\n')
    await until('a status line on stdout', 30_000, async () =>
      /dev: \{"name":"b".*"partitioned":true/.test(output) ? true : undefined,
    ).catch((error: Error) => fail(error.message))

    // Heal: both sides converge, and the geos say so.
    assert.equal((await fetch(`${ready.control}/heal`, { method: 'POST' })).status, 200)
    await reads('b', 111)
    await reads('a', 111)
    await reads('c', 111)
    await until('a "partition healed" log line', 60_000, async () =>
      /\[[abc]\] .*partition healed/.test(output) ? true : undefined,
    ).catch((error: Error) => fail(error.message))

    // SIGINT stops everything: the dev process and every geo it started.
    dev.kill('SIGINT')
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000)),
    ])
    if (code === 'timeout') fail('dev did not exit within 60 s of SIGINT')
    assert.equal(code, 0)
    for (const pid of childPids)
      assert.equal(alive(pid), false, `geo process ${pid} is still running`)
    assert.deepEqual(await processesWith(dataDir), [], 'no process of this dev run is left')
    assert.match(output, /dev: every geo stopped/)
  })
})
