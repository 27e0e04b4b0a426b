// A mistyped command line: commander's error line, then ONE hint line (the nearest option,
// found by bin/suggest.ts, and where the options are listed), exit code 2, nothing on stdout.
import assert from 'node:assert/strict'
import { runNodeCommand } from '../support/node-process.js'

const cases: Array<{ args: string[]; error: RegExp; hint: RegExp }> = [
  {
    args: ['--prot', '8081'],
    error: /^error: unknown option '--prot'$/,
    hint: /^did you mean --port\? \(anywhere-node start --help lists its options\)$/,
  },
  {
    args: ['start', '--dta-dir=x'],
    error: /^error: unknown option '--dta-dir=x'$/,
    hint: /^did you mean --data-dir\? \(anywhere-node start --help lists its options\)$/,
  },
  {
    args: ['dev', '--port', '8081'],
    error: /^error: unknown option '--port'$/,
    hint: /^did you mean --http-port or --control-port\? \(anywhere-node dev --help lists its options\)$/,
  },
  {
    args: ['tap', '--kidn', 'peer.lost'],
    error: /^error: unknown option '--kidn'$/,
    hint: /^did you mean --kind\? \(anywhere-node tap --help lists its options\)$/,
  },
  {
    args: ['token', 'hash', '--nme', 'app'],
    error: /^error: unknown option '--nme'$/,
    hint: /^did you mean --name\? \(anywhere-node token hash --help lists its options\)$/,
  },
  {
    args: ['id', '--port', '1'],
    error: /^error: unknown option '--port'$/,
    hint: /^--port is an option of 'anywhere-node start', not of 'id' \(anywhere-node id --help lists its options\)$/,
  },
  {
    args: ['--frobnicate'],
    error: /^error: unknown option '--frobnicate'$/,
    hint: /^\(anywhere-node start --help lists its options\)$/,
  },
  {
    args: ['--port', 'eighty'],
    error:
      /^error: option '-p, --port <port>' argument 'eighty' is invalid\. must be a port number/,
    hint: /^\(anywhere-node start --help lists its options\)$/,
  },
  {
    args: ['check'],
    error: /^error: required option '-c, --config <file>' not specified$/,
    hint: /^\(anywhere-node check --help lists its options\)$/,
  },
]

describe('anywhere-node: a mistyped command line', function () {
  this.timeout(60_000)

  for (const { args, error, hint } of cases)
    it(`${args.join(' ')}: the error, one hint line, exit 2`, async () => {
      const { code, stdout, stderr } = await runNodeCommand(args)
      assert.equal(code, 2, stderr)
      assert.equal(stdout, '', 'nothing on stdout')
      const lines = stderr.trimEnd().split('\n')
      assert.equal(lines.length, 2, `two lines on stderr, saw:\n${stderr}`)
      assert.match(lines[0]!, error)
      assert.match(lines[1]!, hint)
    })
})
