import assert from 'node:assert/strict'
import { fromLocalTool } from '../../bin/dev/control.js'

describe('anywhere-node dev: the control endpoint answers only local tools', () => {
  it('accepts curl and scripts on this machine', () => {
    for (const host of ['127.0.0.1:8090', 'localhost:8090', '[::1]:8090', '127.0.0.1'])
      assert.equal(fromLocalTool(host, undefined), true, host)
  })

  it('refuses a browser page (Origin) and a DNS-rebound or missing Host', () => {
    assert.equal(fromLocalTool('127.0.0.1:8090', 'http://evil.example'), false)
    assert.equal(fromLocalTool('127.0.0.1:8090', 'null'), false)
    assert.equal(fromLocalTool('evil.example:8090', undefined), false)
    assert.equal(fromLocalTool('127.0.0.1.evil.example:8090', undefined), false)
    assert.equal(fromLocalTool(undefined, undefined), false)
  })
})
