// Rendezvous (highest-random-weight) hashing: each actor goes to the member whose hash of
// (member, actor) is highest. A member that leaves moves only its own actors; one that joins
// takes about 1/n of everyone's, and every node with the same member list agrees.

/** FNV-1a over the UTF-16 units of `text`, from `seed`, then a murmur3 finaliser for spread. */
function hash32(seed: number, text: string): number {
  let h = seed
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const FNV_OFFSET = 0x811c9dc5

/** A member's seed: its id hashed once, so a lookup hashes the actor once per member. */
export function memberSeed(member: string): number {
  return hash32(FNV_OFFSET, member) || 1
}

/**
 * The member that owns `type/id` among `members` (ids with their `memberSeed`), or undefined
 * when there is none. Ties (vanishingly rare) go to the lower id, so every node agrees.
 */
export function rendezvousOwner(
  members: readonly { id: string; seed: number }[],
  type: string,
  id: string,
): string | undefined {
  let best: string | undefined
  let bestWeight = -1
  for (const member of members) {
    const weight = hash32(hash32(member.seed, type) ^ 0x9e3779b9, id)
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member.id < best)) {
      best = member.id
      bestWeight = weight
    }
  }
  return best
}
