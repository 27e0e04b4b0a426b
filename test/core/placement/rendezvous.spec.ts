import assert from 'node:assert/strict'
import { memberSeed, rendezvousOwner } from '../../../core/index.js'

const members = (ids: readonly string[]) => ids.map((id) => ({ id, seed: memberSeed(id) }))
const ACTORS = Array.from({ length: 6_000 }, (_, i) => `actor-${i}`)

describe('rendezvous placement', () => {
  it('spreads actors evenly over the members, whatever order they are listed in', () => {
    const ids = ['eu-1a2b', 'eu-3c4d', 'eu-5e6f']
    const counts = new Map<string, number>()
    for (const id of ACTORS) {
      const owner = rendezvousOwner(members(ids), 'counter', id)!
      assert.equal(rendezvousOwner(members([...ids].reverse()), 'counter', id), owner)
      counts.set(owner, (counts.get(owner) ?? 0) + 1)
    }
    for (const [owner, count] of counts)
      assert.ok(
        Math.abs(count - ACTORS.length / 3) < ACTORS.length * 0.05,
        `${owner} owns ${count}`,
      )
  })

  it('moves only the actors of a member that leaves, and about 1/n to a member that joins', () => {
    const three = members(['a', 'b', 'c'])
    const two = members(['a', 'b'])
    const four = members(['a', 'b', 'c', 'd'])
    let movedToD = 0
    for (const id of ACTORS) {
      const before = rendezvousOwner(three, 'ledger', id)
      const after = rendezvousOwner(two, 'ledger', id)
      if (before !== 'c') assert.equal(after, before, `${id} moved though its owner stayed`)
      const joined = rendezvousOwner(four, 'ledger', id)
      if (joined !== before) {
        assert.equal(joined, 'd', `${id} moved between old members when d joined`)
        movedToD++
      }
    }
    assert.ok(
      Math.abs(movedToD - ACTORS.length / 4) < ACTORS.length * 0.05,
      `${movedToD} moved to d`,
    )
  })

  it('names no owner when there are no members', () => {
    assert.equal(rendezvousOwner([], 'counter', 'x'), undefined)
  })
})
