// The routing of a geo of several nodes, on a scripted placement: what is retried (only what
// surely did not run) and where, and what is not.
import assert from 'node:assert/strict'
import {
  AskTimeoutError,
  FencedError,
  MemberUnreachableError,
  NotOwnerError,
  OutcomeUnknownError,
  silentLogger,
  systemClock,
  type ActorPlacement,
  type ActorView,
  type RemoteActors,
} from '../../../core/index.js'
import { GeoRouter } from '../../../core/runtime/geo-router.js'

/** A placement whose owner and remote answers the test scripts; it records every attempt. */
function scripted(owners: string[], remoteAnswers: Array<() => Promise<unknown>>) {
  const attempts: string[] = []
  let changes = 0
  const remote: RemoteActors = {
    ask: (node) => {
      attempts.push(`remote:${node}`)
      const next = remoteAnswers.shift()
      return (next ? next() : Promise.resolve('served')).then((value) => ({ value }))
    },
    tell: () => Promise.resolve(),
    read: () => Promise.reject(new Error('not used')),
  }
  const placement: ActorPlacement = {
    selfId: 'me',
    ownerOf: () => owners[Math.min(changes, owners.length - 1)]!,
    claim: () => Promise.resolve(1),
    holdsClaims: () => true,
    whenChanged: () => {
      changes++
      return Promise.resolve()
    },
    remote,
  }
  return { placement, attempts }
}

function router(
  placement: ActorPlacement,
  localAnswers: Array<() => Promise<unknown>>,
  attempts: string[],
  askTimeoutMs = 5_000,
) {
  return new GeoRouter(
    placement,
    {
      askHere: () => {
        attempts.push('local')
        const next = localAnswers.shift()
        return next ? next() : Promise.resolve('served here')
      },
      readHere: () => {
        attempts.push('read here')
        return Promise.resolve({ state: { value: 7 }, eventCount: 1 } satisfies ActorView)
      },
      tellHere: () => {},
    },
    systemClock(),
    silentLogger(),
    askTimeoutMs,
  )
}

describe('GeoRouter', () => {
  it('retries a message refused unrun at the node that owns the actor after the view changes', async () => {
    const { placement, attempts } = scripted(
      ['b', 'c', 'me'],
      [
        () => Promise.reject(new NotOwnerError('b moved it')),
        () => Promise.reject(new MemberUnreachableError('c is gone')),
      ],
    )
    const local = [() => Promise.reject(new FencedError('fenced once'))]
    const reply = await router(placement, local, attempts).ask(
      'counter',
      'x',
      'increment',
      {},
      undefined,
      undefined,
    )
    assert.equal(reply, 'served here')
    assert.deepEqual(attempts, ['remote:b', 'remote:c', 'local', 'local'])
  })

  it('never retries a message whose outcome is unknown', async () => {
    const { placement, attempts } = scripted(
      ['b'],
      [() => Promise.reject(new OutcomeUnknownError('b died with it'))],
    )
    await assert.rejects(
      router(placement, [], attempts).ask('counter', 'x', 'increment', {}, undefined, undefined),
      OutcomeUnknownError,
    )
    assert.deepEqual(attempts, ['remote:b'])
  })

  it('gives up at the ask deadline with AskTimeoutError when the actor keeps moving', async () => {
    const { placement, attempts } = scripted(['b'], [])
    placement.remote.ask = () => {
      attempts.push('remote:b')
      return Promise.reject(new NotOwnerError('not here'))
    }
    placement.whenChanged = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
    await assert.rejects(
      router(placement, [], attempts, 200).ask(
        'counter',
        'x',
        'increment',
        {},
        undefined,
        undefined,
      ),
      AskTimeoutError,
    )
    assert.ok(attempts.length >= 2 && attempts.length < 50, `${attempts.length} attempts`)
  })

  it('refuses a forwarded message for an actor another node owns, and serves one it owns', async () => {
    const { placement, attempts } = scripted(['b'], [])
    const geo = router(placement, [], attempts)
    await assert.rejects(
      geo.askForwarded('counter', 'x', 'increment', {}, undefined),
      NotOwnerError,
    )
    assert.deepEqual(attempts, [], 'a refused message is not forwarded again')
    placement.ownerOf = () => 'me'
    assert.deepEqual(await geo.askForwarded('counter', 'x', 'increment', {}, undefined), {
      value: 'served here',
      replayed: false,
    })
  })

  it('answers a read of an actor it owns only while it surely holds its claim; otherwise the read goes to the owner after the view changes', async () => {
    const { placement, attempts } = scripted(['me', 'b'], [])
    placement.remote.read = (node) => {
      attempts.push(`remote read:${node}`)
      return Promise.resolve({ state: { value: 8 }, eventCount: 2 } satisfies ActorView)
    }
    const geo = router(placement, [], attempts)
    assert.equal(((await geo.read('counter', 'x', undefined)).state as { value: number }).value, 7)
    // Paused or cut off from Redis past the timeout: the replica here may be stale.
    placement.holdsClaims = () => false
    const view = await geo.read('counter', 'x', undefined)
    assert.equal((view.state as { value: number }).value, 8, 'served by the new owner')
    assert.deepEqual(attempts, ['read here', 'read here', 'remote read:b'])
    // A read forwarded here is refused as well: the node that sent it retries at the owner.
    placement.ownerOf = () => 'me'
    await assert.rejects(geo.readForwarded('counter', 'x'), NotOwnerError)
  })

  it('does not answer a read whose actor moved to another node while it was read', async () => {
    const { placement, attempts } = scripted(['me'], [])
    let lookups = 0
    placement.ownerOf = () => (lookups++ === 0 ? 'me' : 'b')
    placement.remote.read = (node) => {
      attempts.push(`remote read:${node}`)
      return Promise.resolve({ state: { value: 8 }, eventCount: 2 } satisfies ActorView)
    }
    const view = await router(placement, [], attempts).read('counter', 'x', undefined)
    assert.equal((view.state as { value: number }).value, 8)
    assert.deepEqual(attempts, ['read here', 'remote read:b'])
  })
})
