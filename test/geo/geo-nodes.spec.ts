// A geo of several nodes on one Redis (issue 10): real redis-server, real node processes.
// One geo runs through the cases in order: it grows from 3 nodes to 4, one is paused past
// the membership timeout and comes back, and the owner of a hot actor is killed.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { fileURLToPath } from 'node:url'
import {
  FrameKind,
  MAX_GEO_CALL_BYTES,
  encodeFrame,
  type Frame,
} from '../../transports/geo-channel/frames.js'
import {
  assertExactCounter,
  assertFailoverAfterKill,
  channelExchange,
  describe3,
  get,
  load,
  parse,
  post,
  type History,
} from '../support/geo-load.js'
import { geoView, startGeoNodes, type GeoNode, type GeoNodes } from '../support/geo-nodes.js'
import { poll } from '../support/multi-geo.js'
import { startTcpProxy } from '../support/tcp-proxy.js'
import { requireRedisServer } from '../support/redis-server.js'

const CONFIG = fileURLToPath(new URL('fixtures/geo-node.config.ts', import.meta.url))
/** The fixture's `members.timeoutMs`. */
const MEMBERSHIP_TIMEOUT_MS = 3_000

describe('a geo of several nodes on one Redis', function () {
  this.timeout(600_000)
  let geo: GeoNodes | undefined

  before(requireRedisServer)
  before(async () => {
    geo = await startGeoNodes({ configFile: CONFIG, names: ['a', 'b', 'c'] })
  })
  after(async () => {
    await geo?.stop()
  })

  const nodes = () => geo!.nodes.filter((n) => n.process.exitCode() === undefined)

  it('lists its members on GET /v1/geo, and every node names the same owner for an actor', async () => {
    const views = await Promise.all(nodes().map((n) => geoView(n, 'counter/shared')))
    assert.equal(views[0]!.members.length, 3)
    assert.equal(new Set(views.map((v) => v.owner)).size, 1, JSON.stringify(views))
    for (const member of views[0]!.members) assert.match(member.url, /^tcp:\/\/127\.0\.0\.1:\d+$/)
  })

  it('the channel between the nodes refuses hostile calls, and a node that does not own an actor refuses it rather than forward it again', async () => {
    const redis = new Redis(geo!.redis!.url)
    let secret: string
    try {
      secret = (await redis.get(`${geo!.prefix}geo:secret`))!
    } finally {
      redis.disconnect()
    }
    const [view] = [await geoView(nodes()[0]!, 'counter/loop')]
    const ownerId = view!.owner!
    const other = view!.members.find((m) => m.nodeId !== ownerId)!
    const hello = (s: string) => encodeFrame(0, FrameKind.HELLO, { secret: s })
    const ask = { type: 'counter', id: 'loop', command: 'increment', input: {} }
    const errorOf = (frame: Frame | undefined) =>
      frame && (JSON.parse(frame.body.toString('utf8')) as { error: string }).error

    // No hello, or a wrong secret: one refusal (call id 0), then the connection closes.
    for (const first of [encodeFrame(1, FrameKind.ASK, ask), hello('x'.repeat(secret.length))]) {
      const seen = await channelExchange(
        other.url,
        [first, encodeFrame(2, FrameKind.ASK, ask)],
        'close',
      )
      assert.equal(errorOf(seen.frames[0]), 'UnauthorizedError', JSON.stringify(seen))
      assert.equal(seen.frames.length, 1, 'no call after a refused hello is answered')
      assert.ok(seen.closed)
    }
    // Before the hello, a frame declaring more than a hello's bytes: closed, nothing buffered.
    const big = Buffer.alloc(4)
    big.writeUInt32BE(MAX_GEO_CALL_BYTES, 0)
    const unauthenticated = await channelExchange(other.url, [big], 'close')
    assert.deepEqual(unauthenticated, { frames: [], closed: true })
    // Authenticated: a body that is not JSON, a call that fails its schema, an unknown kind,
    // each get their own ValidationError; a call for an actor this node does not own is refused.
    const notJson = Buffer.from(encodeFrame(1, FrameKind.ASK, 'x'))
    notJson.write('{', notJson.length - 3)
    const answered = await channelExchange(
      other.url,
      [
        hello(secret),
        notJson,
        encodeFrame(2, FrameKind.ASK, { type: 'counter' }),
        encodeFrame(3, 99 as FrameKind, ask),
        encodeFrame(4, FrameKind.ASK, ask),
      ],
      4,
    )
    const byId = new Map(answered.frames.map((f) => [f.id, f]))
    assert.equal(errorOf(byId.get(1)), 'ValidationError', JSON.stringify(answered))
    assert.equal(errorOf(byId.get(2)), 'ValidationError')
    assert.equal(errorOf(byId.get(3)), 'ValidationError')
    assert.equal(errorOf(byId.get(4)), 'NotOwnerError')
    // Authenticated, a frame over the limit: the connection is cut before its bytes are read.
    const oversized = Buffer.alloc(9)
    oversized.writeUInt32BE(2 * MAX_GEO_CALL_BYTES, 0)
    const cut = await channelExchange(other.url, [hello(secret), oversized], 'close')
    assert.deepEqual(cut, { frames: [], closed: true })
    const value = await get<{ value: number }>(nodes()[0]!, '/v1/actors/counter/loop')
    assert.equal(value.value, 0, 'the refused call did not run anywhere')
  })

  it('16 clients incrementing one counter through all three nodes: the value equals the acknowledged increments', async () => {
    await assertExactCounter(nodes(), 'hot16')
  })

  it('an Idempotency-Key travels to the owner: a retry through any node gets the first reply, and the command runs once', async () => {
    const all = nodes()
    const keyed = async (node: GeoNode, by: number) => {
      const response = await fetch(`${node.url}/v1/actors/counter/keyed/increment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'geo-k1' },
        body: JSON.stringify({ by }),
      })
      return {
        status: response.status,
        replayed: response.headers.get('idempotent-replayed') === 'true',
        body: (await response.json()) as unknown,
      }
    }
    const first = await keyed(all[0]!, 5)
    assert.deepEqual(first, { status: 200, replayed: false, body: { value: 5 } })
    for (const node of all)
      assert.deepEqual(await keyed(node, 5), { status: 200, replayed: true, body: { value: 5 } })
    assert.equal((await keyed(all[1]!, 6)).status, 422, 'the same key with another input')
    const state = await get<{ value: number }>(all[2]!, '/v1/actors/counter/keyed')
    assert.equal(state.value, 5)
  })

  it('an account that refuses to overdraw never overdraws under concurrent withdrawals through different nodes', async () => {
    const all = nodes()
    assert.ok((await post(all[0]!, '/v1/actors/account/acct/deposit', { amount: 100 })).ok)
    const outcomes = await load(
      16,
      (client) =>
        post(all[client % all.length]!, '/v1/actors/account/acct/withdraw', { amount: 3 }),
      () => false,
      10,
    )
    assert.ok(
      outcomes.every((o) => o.ok),
      describe3(outcomes),
    )
    const granted = outcomes.filter((o) => (o.body as { ok: boolean }).ok).length
    assert.equal(granted, 33, 'exactly floor(100 / 3) withdrawals of 3 are granted')
    const state = await get<{ balance: number }>(all[1]!, '/v1/actors/account/acct')
    assert.equal(state.balance, 1)
    const history = await get<History>(all[2]!, '/v1/actors/account/acct/history?limit=1000')
    let balance = 0
    for (const event of history.events) {
      balance +=
        event.type === 'deposited' ? Number(event.payload.amount) : -Number(event.payload.amount)
      assert.ok(balance >= 0, `the balance went to ${balance} in the stored history`)
    }
  })

  it('ctx.ask and ctx.tell reach an actor that another node owns', async () => {
    const all = nodes()
    // A relay and a ledger owned by different nodes, the request sent to a third one when there is one.
    let relayId = ''
    let ledgerId = ''
    for (let i = 0; i < 200 && !ledgerId; i++) {
      const relayOwner = await geo!.ownerOf(all[0]!, 'relay', `r-${i}`)
      const ledgerOwner = await geo!.ownerOf(all[0]!, 'ledger', `target-${i}`)
      if (relayOwner !== ledgerOwner) [relayId, ledgerId] = [`r-${i}`, `target-${i}`]
    }
    assert.ok(ledgerId, 'found a relay and a ledger on different nodes')
    const relayOwner = await geo!.ownerOf(all[0]!, 'relay', relayId)
    const ledgerOwner = await geo!.ownerOf(all[0]!, 'ledger', ledgerId)
    const via = all.find((n) => n.nodeId !== relayOwner && n.nodeId !== ledgerOwner) ?? all[0]!
    const outcome = await post(via, `/v1/actors/relay/${relayId}/pass`, {
      ledger: ledgerId,
      op: 'x1',
    })
    assert.ok(outcome.ok, JSON.stringify(outcome))
    assert.deepEqual(outcome.body, { ledger: { count: 1 } })
    await poll('the told operation to reach the ledger', async () => {
      const state = await get<{ count: number }>(via, `/v1/actors/ledger/${ledgerId}`)
      return state.count === 2
    })
    const history = await get<History>(via, `/v1/actors/ledger/${ledgerId}/history`)
    assert.deepEqual(
      history.events.map((e) => [e.payload.op, e.origin]),
      [
        ['x1', ledgerOwner],
        ['x1-told', ledgerOwner],
      ],
      "both were applied once, by the ledger's owner",
    )
  })

  it('a node joins a running geo: actors rebalance, and requests keep succeeding during the move', async () => {
    const before = nodes()
    const actors = Array.from({ length: 24 }, (_, i) => `spread-${i}`)
    let joined: GeoNode | undefined = undefined
    let ackedAfterJoin = 0
    const acks = new Map<string, number>()
    const running = load(
      12,
      async (client, n) => {
        const via = [...before, ...(joined ? [joined] : [])]
        const actor = actors[(client * 7 + n) % actors.length]!
        const outcome = await post(
          via[n % via.length]!,
          `/v1/actors/counter/${actor}/increment`,
          {},
        )
        if (outcome.ok) {
          acks.set(actor, (acks.get(actor) ?? 0) + 1)
          if (joined) ackedAfterJoin++
        }
        return outcome
      },
      () => joined !== undefined && ackedAfterJoin >= 300,
    )
    const d = await geo!.add('d')
    await geo!.waitMembers(['a', 'b', 'c', 'd'])
    joined = d
    const outcomes = await running
    assert.ok(
      outcomes.every((o) => o.ok),
      describe3(outcomes),
    )
    const owners = await Promise.all(actors.map((id) => geo!.ownerOf(d, 'counter', id)))
    assert.ok(owners.includes(d.nodeId), `the new node owns some of the ${actors.length} actors`)
    for (const [i, id] of actors.entries()) {
      const state = await get<{ value: number }>(d, `/v1/actors/counter/${id}`)
      assert.equal(state.value, acks.get(id) ?? 0, `counter ${id} (owner ${owners[i]})`)
    }
  })

  it('SIGSTOP of an owner past the timeout, then SIGCONT: its late append is refused by the fence, and it rejoins cleanly', async () => {
    const all = nodes()
    const ownerId = await geo!.ownerOf(all[0]!, 'ledger', 'paused')
    const owner = all.find((n) => n.nodeId === ownerId)!
    const others = all.filter((n) => n !== owner)
    assert.ok((await post(owner, '/v1/actors/ledger/paused/add', { op: 'first' })).ok)
    // A command whose handler is waiting when the owner stops: it appends after SIGCONT.
    const received = await subscribeTap(owner, 'message.received', 'ledger/paused')
    const late = post(owner, '/v1/actors/ledger/paused/add', { op: 'late', ms: 1_500 })
    await received.seen
    owner.process.signal('SIGSTOP')
    const sent: string[] = ['first', 'late']
    const acked = new Set<string>(['first'])
    try {
      // Another node takes the actor once the paused owner drops out.
      await poll(
        "another node to serve the paused owner's actor",
        async () => {
          const op = `during-${sent.length}`
          sent.push(op)
          const outcome = await post(
            others[sent.length % others.length]!,
            '/v1/actors/ledger/paused/add',
            { op },
          )
          if (outcome.ok) acked.add(op)
          return outcome.ok
        },
        60_000,
        50,
      )
    } finally {
      owner.process.signal('SIGCONT')
    }
    const lateOutcome = await late
    if (lateOutcome.ok) acked.add('late')
    await poll(
      'the paused node to log that the fence refused its late append',
      () => /append refused by the fence/.test(owner.process.output()),
      30_000,
    )
    await geo!.waitMembers(all.map((n) => n.name))
    // It serves again, its own actors and others'.
    for (let i = 0; i < 5; i++) {
      const op = `after-${i}`
      sent.push(op)
      const outcome = await post(i % 2 === 0 ? owner : others[0]!, '/v1/actors/ledger/paused/add', {
        op,
      })
      assert.ok(outcome.ok, JSON.stringify(outcome))
      acked.add(op)
    }
    const history = await get<History>(others[0]!, '/v1/actors/ledger/paused/history?limit=1000')
    const applied = history.events.map((e) => String(e.payload.op))
    assert.equal(
      new Set(applied).size,
      applied.length,
      `an operation applied twice: ${applied.join(',')}`,
    )
    for (const op of acked)
      assert.ok(applied.includes(op), `acknowledged ${op} is lost: ${applied.join(',')}`)
    for (const op of applied) assert.ok(sent.includes(op), `${op} was never sent`)
    const state = await get<{ count: number }>(owner, '/v1/actors/ledger/paused')
    assert.equal(state.count, applied.length)
  })

  it('kill -9 of the owner of a hot actor under load: another node serves it within the timeout + 2 s, no acknowledged write lost, none applied twice', async () => {
    await assertFailoverAfterKill(geo!, nodes(), 'hot', MEMBERSHIP_TIMEOUT_MS)
  })

  it('a node cut off from Redis past the timeout answers no read from its stale replica, and serves again once it renews', async () => {
    const proxy = await startTcpProxy({ targetPort: geo!.redis!.port })
    try {
      const cutOff = await geo!.add('cut-off', { redisUrl: `redis://127.0.0.1:${proxy.port}` })
      const others = nodes().filter((n) => n !== cutOff)
      await geo!.waitMembers(nodes().map((n) => n.name))
      let id = ''
      for (let i = 0; i < 200 && !id; i++)
        if ((await geo!.ownerOf(others[0]!, 'counter', `fenced-read-${i}`)) === cutOff.nodeId)
          id = `fenced-read-${i}`
      assert.ok(id, 'an actor the new node owns')
      const path = `/v1/actors/counter/${id}`
      assert.equal((await post(cutOff, `${path}/increment`, { by: 1 })).status, 200)
      assert.equal((await get<{ value: number }>(cutOff, path)).value, 1)

      proxy.cut()
      await geo!.waitMembers(
        others.map((n) => n.name),
        60_000,
      )
      const written = await post(others[0]!, `${path}/increment`, { by: 1 })
      assert.equal(
        written.status,
        200,
        `the new owner serves the write: ${JSON.stringify(written)}`,
      )
      // The cut-off node still names itself the owner and holds the value 1: it must not say so.
      const response = await fetch(`${cutOff.url}${path}`, { signal: AbortSignal.timeout(90_000) })
      const body = parse(await response.text()) as { value?: number; error?: string }
      assert.ok(
        !response.ok && [503, 504].includes(response.status),
        `a read of the node cut off from Redis: ${response.status} ${JSON.stringify(body)}`,
      )

      proxy.restore()
      let seen: unknown
      await poll(
        'the node to renew and read the value the new owner wrote',
        async () => {
          const answer = await fetch(`${cutOff.url}${path}`, {
            signal: AbortSignal.timeout(60_000),
          })
          seen = `${answer.status} ${await answer.text()}`
          return answer.ok && (JSON.parse(String(seen).slice(4)) as { value: number }).value === 2
        },
        90_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last seen: ${String(seen)}`)
      })
    } finally {
      await proxy.close()
    }
  })
})

/**
 * Subscribes to `node`'s `kind` taps about `actor`; resolves (once subscribed) with a promise
 * that settles when one arrives.
 */
async function subscribeTap(
  node: GeoNode,
  kind: string,
  actor: string,
): Promise<{ seen: Promise<void> }> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 60_000)
  const response = await fetch(
    `${node.url}/v1/taps?kind=${kind}&actor=${encodeURIComponent(actor)}`,
    {
      signal: controller.signal,
    },
  )
  const reader = response.body!.getReader()
  const seen = (async () => {
    let text = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done)
          throw new Error(`the tap stream of ${node.name} ended before a ${kind} of ${actor}`)
        text += Buffer.from(value).toString('utf8')
        if (text.includes(`"kind":"${kind}"`)) return
      }
    } finally {
      clearTimeout(timer)
      controller.abort()
    }
  })()
  // The stream's opening comment says the subscription is in place.
  return { seen }
}
