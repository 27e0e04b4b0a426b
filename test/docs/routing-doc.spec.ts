// The examples of docs/routing.md are valid as printed.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseNodeConfig } from '../../node/index.js'
import { REPO_ROOT } from '../support/scratch-module.js'
import { runNodeCommand } from '../support/node-process.js'

describe('documentation: docs/routing.md', () => {
  it('its node config example parses, with the overload limits and public URLs it names', async () => {
    const text = await readFile(join(REPO_ROOT, 'docs/routing.md'), 'utf8')
    const json = /```json\n([\s\S]*?)```/.exec(text)?.[1]
    assert.ok(json)
    const config = parseNodeConfig(JSON.parse(json))
    assert.equal(config.overload.maxInFlight, 256)
    assert.equal(config.overload.recoverAfterMs, 3000)
    assert.equal(config.overload.sampleMs, 250, 'the documented default')
    assert.deepEqual(config.http.publicUrls, ['https://eu.api.example.com'])
  })

  it('the edge flags it shows exist (anywhere-node edge --help)', async () => {
    const { code, stdout } = await runNodeCommand(['edge', '--help'])
    assert.equal(code, 0)
    for (const flag of ['--port', '--geo', '--discover', '--probe-interval-ms'])
      assert.ok(stdout.includes(flag), `${flag} missing from:\n${stdout}`)
  })
})
