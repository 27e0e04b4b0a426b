import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pinoLogger, prettyLine } from '../../node/index.js'
import { startNodeProcess, stopAllNodeProcesses } from '../support/node-process.js'

describe('node: logs through pino', function () {
  this.timeout(30_000)

  const capture = (init: Parameters<typeof pinoLogger>[0] = {}) => {
    const lines: string[] = []
    const logger = pinoLogger({ ...init, destination: { write: (l) => lines.push(l) } })
    return { logger, lines }
  }

  it('writes JSON lines off a terminal, with the error stack and the chain of causes', () => {
    const { logger, lines } = capture({ fields: { geo: 'eu', nodeId: 'eu-1' } })
    const root = new TypeError('socket closed')
    logger.child({ component: 'store' }).error('append failed', {
      error: new Error('the store is unavailable', { cause: root }),
      seq: 3,
    })
    assert.equal(lines.length, 1)
    const entry = JSON.parse(lines[0]!) as {
      level: string
      msg: string
      time: string
      geo: string
      nodeId: string
      component: string
      seq: number
      error: {
        message: string
        stack: string
        cause: { type: string; message: string; stack: string }
      }
    }
    assert.equal(entry.level, 'error')
    assert.equal(entry.msg, 'append failed')
    assert.equal(entry.geo, 'eu')
    assert.equal(entry.nodeId, 'eu-1')
    assert.equal(entry.component, 'store')
    assert.equal(entry.seq, 3)
    assert.equal(entry.error.message, 'the store is unavailable')
    assert.match(entry.error.stack, /pino-logger\.spec\.ts/)
    assert.equal(entry.error.cause.type, 'TypeError')
    assert.equal(entry.error.cause.message, 'socket closed')
    assert.match(entry.error.cause.stack, /^TypeError: socket closed/)
    assert.ok(!Number.isNaN(Date.parse(entry.time)))
  })

  it('drops lines below the level', () => {
    const { logger, lines } = capture({ level: 'warn' })
    logger.debug('no')
    logger.info('no')
    logger.warn('yes')
    logger.error('yes')
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['yes', 'yes'],
    )
    const silent = capture({ level: 'silent' })
    silent.logger.error('no')
    assert.equal(silent.lines.length, 0)
  })

  it('writes one readable line per entry on a terminal, the stacks of an error and its cause below it', () => {
    const { logger, lines } = capture({
      isTTY: true,
      colors: false,
      fields: { geo: 'eu', nodeId: 'eu-1' },
    })
    logger.child({ component: 'fabric' }).warn('fabric peer lost', { peer: 'p1', lagEvents: 2 })
    assert.equal(lines.length, 1)
    assert.match(
      lines[0]!,
      /^\d\d:\d\d:\d\d\.\d{3} WARN  \[eu eu-1 fabric\] fabric peer lost peer=p1 lagEvents=2\n$/,
    )
    const text = prettyLine({
      level: 'error',
      time: '2026-11-30T12:00:01.234Z',
      msg: 'boom',
      error: {
        type: 'Error',
        message: 'outer',
        stack: 'Error: outer\n    at a (x.ts:1:1)',
        cause: {
          type: 'TypeError',
          message: 'inner',
          stack: 'TypeError: inner\n    at b (y.ts:2:2)',
        },
      },
    })
    assert.equal(
      text,
      '12:00:01.234 ERROR boom error=Error: outer\n' +
        '    Error: outer\n        at a (x.ts:1:1)\n' +
        '    caused by: TypeError: inner\n        at b (y.ts:2:2)\n',
    )
  })

  describe('a node process', () => {
    let dir: string | undefined
    afterEach(async () => {
      await stopAllNodeProcesses()
      if (dir) await rm(dir, { recursive: true, force: true })
      dir = undefined
    })

    it('logs JSON on a pipe, with its geo and node id on every line; --log-level sets the level', async () => {
      dir = await mkdtemp(join(tmpdir(), 'anywhere-logs-'))
      const node = await startNodeProcess({
        args: [
          'start',
          '--geo',
          'eu',
          '--port',
          '0',
          '--data-dir',
          dir,
          '--store',
          'memory',
          '--log-level',
          'debug',
        ],
      })
      await node.stop()
      const lines = node
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && !l.includes('"event":"ready"'))
      assert.ok(lines.length >= 2, `log lines:\n${node.output()}`)
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>
        assert.equal(entry.geo, 'eu', line)
        assert.equal(entry.nodeId, node.ready.nodeId, line)
        assert.match(String(entry.level), /^(debug|info|warn|error)$/, line)
      }
      assert.ok(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === 'node started'))
    })
  })
})
