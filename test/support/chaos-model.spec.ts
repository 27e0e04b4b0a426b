// The chaos run's final check must be able to fail: each broken promise is named.
import assert from 'node:assert/strict'
import { AckModel, checkModel, COUNTERS, JOURNALS } from './chaos.js'

function stateOf(counters: number[], journals: string[][]): Record<string, string> {
  const state: Record<string, string> = {}
  COUNTERS.forEach(
    (id, i) => (state[`counter/${id}`] = JSON.stringify({ value: counters[i] ?? 0 })),
  )
  JOURNALS.forEach(
    (id, i) => (state[`journal/${id}`] = JSON.stringify({ lines: journals[i] ?? [] })),
  )
  return state
}

describe('test support: the chaos model check', () => {
  const model = new AckModel()
  model.counter('c0', 3, 'acked')
  model.counter('c0', 2, 'unknown')
  model.line('j0', 'a-1', 'acked')
  model.line('j0', 'b-1', 'unknown')

  it('accepts a state within the bounds, an unknown write applied or not', () => {
    assert.deepEqual(checkModel(stateOf([3], [['a-1']]), model), [])
    assert.deepEqual(checkModel(stateOf([5], [['b-1', 'a-1']]), model), [])
  })

  it('names a lost acknowledged write, a duplicated effect and an invented line', () => {
    assert.match(checkModel(stateOf([2], [['a-1']]), model).join(), /counter c0 is 2/)
    assert.match(checkModel(stateOf([6], [['a-1']]), model).join(), /counter c0 is 6/)
    assert.match(checkModel(stateOf([3], [[]]), model).join(), /a-1 0 times/)
    assert.match(checkModel(stateOf([3], [['a-1', 'a-1']]), model).join(), /a-1 2 times/)
    assert.match(checkModel(stateOf([3], [['a-1', 'b-1', 'b-1']]), model).join(), /b-1 2 times/)
    assert.match(checkModel(stateOf([3], [['a-1', 'zz']]), model).join(), /never written: zz/)
  })
})
