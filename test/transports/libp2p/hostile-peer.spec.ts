// The hostile-peer suite: an allowlisted peer (a real libp2p node holding an allowlisted key)
// sends a seeded random mix of hostile frames to a victim geo that also replicates with an
// honest geo. Short in `npm test`; `npm run fuzz:peer` runs it long (HOSTILE_ROUNDS), and
// HOSTILE_SEED replays a run (the seed is printed when a round fails).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import {
  eventRecordSchema,
  MAX_HLC_LOGICAL,
  type EventRecord,
  type Hlc,
} from '../../../core/index.js'
import { MemoryEventStore } from '../../../stores/memory/index.js'
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  MAX_EVENTS_PER_FRAME,
  PROTOCOL_VERSION,
  type Frame,
} from '../../../transports/libp2p/frames.js'
import {
  deeplyNested,
  eventsOfArrays,
  eventsOfJunk,
  eventWithHugePayload,
  hugeHello,
  randomJunk,
  seededRandom,
} from './hostile-frames.js'
import {
  addressOf,
  createGeo,
  frameReader,
  removeDirs,
  startGeo,
  startRawPeer,
  stopAllGeos,
  stopAllRawPeers,
  tally,
  waitFor,
  type RawPeer,
  type TestGeo,
} from './in-process.js'

const ROUNDS = Number(process.env.HOSTILE_ROUNDS ?? 2)
const ACTIONS_PER_ROUND = Number(process.env.HOSTILE_ACTIONS ?? 8)
const SEED = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31))
const HOUR_MS = 60 * 60 * 1000
const SKEW_MS = 5_000

/** A length-prefixed frame around any body. */
function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength)
  new DataView(out.buffer).setUint32(0, body.byteLength)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

/** An events frame that skips the encoder's checks (a hostile peer has no encoder limits). */
function rawEvents(n: number, events: unknown[]): Uint8Array {
  return encodeFrame({ t: 'events', n, events: events as EventRecord[] })
}

function event(origin: string, seq: number, hlc: Hlc, by = 1): EventRecord {
  return {
    actorType: 'tally',
    actorId: 'hostile',
    origin,
    seq,
    hlc,
    type: 'added',
    payload: { by },
  }
}

/** One hostile session: what the peer sends, on a stream of its own. */
type Action = (ctx: {
  send(bytes: Uint8Array): void
  n(): number
  round: number
  /** The hostile peer: it signs with its own (allowlisted) key. */
  raw: RawPeer
  /** Keys the hostile peer holds besides its own: a stranger's, not allowlisted. */
  stranger: RawPeer
  /** Origins of others: the victim's own, and the honest geo's. */
  victimOrigin: string
  honestOrigin: string
}) => void

/** A forged event: under another node's origin (or altered), it must never be stored or applied. */
function forged(origin: string, seq: number): EventRecord {
  return { ...event(origin, seq, { wall: Date.now(), logical: 0 }, 1_000), actorId: 'forged' }
}

/** An allowlisted peer writing as another origin, or sending what its origin never signed. */
const FORGED_ORIGIN_ACTIONS: Array<[string, Action]> = [
  [
    "an event under the victim's own origin, signed by the peer's key",
    (c) => c.send(rawEvents(c.n(), c.raw.sign([forged(c.victimOrigin, 1)]))),
  ],
  [
    "an event under the honest geo's origin, signed by the peer's key",
    (c) => c.send(rawEvents(c.n(), c.raw.sign([forged(c.honestOrigin, 1)]))),
  ],
  [
    'an event under an origin of a key that is not allowlisted, signed by that key',
    (c) => c.send(rawEvents(c.n(), c.stranger.sign([forged(c.stranger.origin(`x${c.round}`), 1)]))),
  ],
  [
    'an unsigned event under its own origin',
    (c) => c.send(rawEvents(c.n(), [forged(c.raw.origin(`unsigned${c.round}`), 1)])),
  ],
  [
    'a signed event altered after signing',
    (c) => {
      const [signedEvent] = c.raw.sign([
        event(c.raw.origin(`altered${c.round}`), 1, { wall: Date.now(), logical: 0 }),
      ])
      c.send(rawEvents(c.n(), [{ ...signedEvent!, payload: { by: 1_000 }, actorId: 'forged' }]))
    },
  ],
  [
    "another origin's signature moved onto a forged event",
    (c) => {
      const [own] = c.raw.sign([
        event(c.raw.origin(`moved${c.round}`), 1, { wall: Date.now(), logical: 0 }),
      ])
      c.send(rawEvents(c.n(), [{ ...forged(c.victimOrigin, 1), sig: own!.sig! }]))
    },
  ],
]

const ACTIONS: Array<[string, Action]> = [
  ['malformed bytes', (c) => c.send(framed(randomJunk(64 + (c.n() % 900), seededRandom(c.n()))))],
  ['an oversized header', (c) => c.send(Uint8Array.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]))],
  [
    'a vector page no hello announced',
    (c) => c.send(encodeFrame({ t: 'vector', vector: { x: 1 } })),
  ],
  [
    'a paged hello after the handshake',
    (c) => {
      const page = {
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        app: 'fabric-test',
        geo: 'raw',
        node: 'raw',
      }
      c.send(encodeFrame({ ...page, vector: {}, more: true } as Frame))
      c.send(encodeFrame({ t: 'vector', vector: { y: 1 } }))
    },
  ],
  ['a truncated frame', (c) => c.send(framed(encodeFrame({ t: 'ping', at: 1 })).subarray(0, 7))],
  ['a 4 MiB hello of 690k vector entries', (c) => c.send(framed(hugeHello()))],
  ['an events frame of 4M junk events', (c) => c.send(framed(eventsOfJunk(4_000_000, 1 << 20)))],
  ['arrays instead of events', (c) => c.send(framed(eventsOfArrays(64, 1_000)))],
  ['a payload of 4M elements', (c) => c.send(framed(eventWithHugePayload()))],
  ['4 MiB of nesting', (c) => c.send(framed(deeplyNested()))],
  [
    'a far-future stamp with a full counter after a gap',
    (c) =>
      c.send(
        rawEvents(c.n(), [
          event(`gap-${c.round}`, 2, { wall: Date.now() + 23 * HOUR_MS, logical: MAX_HLC_LOGICAL }),
        ]),
      ),
  ],
  [
    'a far-future stamp next in line',
    (c) =>
      c.send(
        rawEvents(c.n(), [
          event(`future-${c.round}`, 1, { wall: Date.now() + HOUR_MS, logical: MAX_HLC_LOGICAL }),
          event(`future-${c.round}`, 2, { wall: Date.now(), logical: 0 }),
        ]),
      ),
  ],
  [
    'a stamp more than a day ahead',
    (c) =>
      c.send(rawEvents(c.n(), [event('day', 1, { wall: Date.now() + 25 * HOUR_MS, logical: 0 })])),
  ],
  [
    'an overflowing counter',
    (c) => c.send(rawEvents(c.n(), [event('overflow', 1, { wall: Date.now(), logical: 2 ** 32 })])),
  ],
  [
    'an invalid seq',
    (c) => c.send(rawEvents(c.n(), [{ ...event('bad', 1, { wall: 1, logical: 0 }), seq: -3 }])),
  ],
  [
    'a flood of valid events',
    (c) => {
      const origin = c.raw.origin(`flood-${c.round}`)
      for (let f = 0; f < 20; f++)
        c.send(
          rawEvents(
            c.n(),
            c.raw.sign(
              Array.from({ length: 50 }, (_, i) =>
                event(origin, f * 50 + i + 1, { wall: Date.now(), logical: 0 }),
              ),
            ),
          ),
        )
    },
  ],
  [
    'a duplicate frame number',
    (c) => {
      const n = c.n()
      const frame = rawEvents(n, [event('dup', 1, { wall: Date.now(), logical: 0 })])
      c.send(frame)
      c.send(frame)
    },
  ],
  [
    'an out-of-order frame',
    (c) => c.send(rawEvents(c.n() + 5, [event('ooo', 1, { wall: Date.now(), logical: 0 })])),
  ],
  [
    'too many events in a frame',
    (c) =>
      c.send(
        rawEvents(
          c.n(),
          Array.from({ length: MAX_EVENTS_PER_FRAME + 1 }, (_, i) =>
            event('many', i + 1, { wall: 1, logical: 0 }),
          ),
        ),
      ),
  ],
  ...FORGED_ORIGIN_ACTIONS,
]

describe('fabric: a hostile allowlisted peer (seeded)', function () {
  this.timeout(60_000 + ROUNDS * 30_000)
  const dirs: string[] = []
  let victim: TestGeo
  let honest: TestGeo
  let raw: RawPeer
  let stranger: RawPeer
  let restart: () => Promise<void>
  let expected = 0

  before(async () => {
    const v = await createGeo('victim')
    const h = await createGeo('honest')
    const r = await createGeo('raw')
    dirs.push(v.dataDir, h.dataDir, r.dataDir)
    honest = await startGeo(h, { peers: [{ geo: 'victim', peerId: v.peerId, addrs: [] }] })
    const store = new MemoryEventStore()
    const startVictim = () =>
      startGeo(
        v,
        {
          peers: [
            { geo: 'honest', peerId: h.peerId, addrs: [addressOf(honest)] },
            { geo: 'raw', peerId: r.peerId, addrs: [] },
          ],
        },
        { store, maxClockSkewMs: SKEW_MS },
      )
    victim = await startVictim()
    restart = async () => {
      await victim.stop()
      victim = await startVictim()
    }
    raw = await startRawPeer(join(r.dataDir, 'peer-key'))
    stranger = await startRawPeer(join(r.dataDir, 'stranger-key'))
  })

  after(async () => {
    await stopAllRawPeers()
    await stopAllGeos()
    await removeDirs(dirs)
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed')
      process.stderr.write(
        `hostile-peer suite failed with HOSTILE_SEED=${SEED} (replay with that env)\n`,
      )
  })

  async function hello(stream: Stream) {
    const reader = frameReader(stream)
    const frame: Frame = {
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      app: 'fabric-test',
      geo: 'raw',
      node: 'node-raw',
      vector: {},
    }
    stream.send(encodeFrame(frame))
    await reader.next()
    return reader
  }

  /** The invariants after each round. */
  async function assertUnharmed(round: string): Promise<void> {
    const bound = Date.now() + SKEW_MS
    assert.ok(
      victim.hlc.peek().wall <= bound,
      `${round}: clock ${JSON.stringify(victim.hlc.peek())}`,
    )
    const vector = await victim.store.versionVector()
    for (const [origin, held] of Object.entries(vector)) {
      const events = held > 0 ? await victim.store.readOrigin(origin, 1, held) : []
      assert.equal(events.length, held, `${round}: ${origin} holds seqs 1..${held}`)
      for (const [i, e] of events.entries()) {
        assert.ok(
          eventRecordSchema.safeParse(e).success,
          `${round}: invalid event stored ${JSON.stringify(e)}`,
        )
        assert.equal(e.seq, i + 1)
        assert.ok(
          e.hlc.wall <= bound && e.hlc.logical <= MAX_HLC_LOGICAL,
          `${round}: ${JSON.stringify(e)}`,
        )
      }
      assert.ok(
        !/^(gap|future|day|overflow|bad|many)/.test(origin) || held === 0,
        `${round}: ${origin} stored`,
      )
    }
    // No forged event was stored, nor applied.
    assert.deepEqual(
      await victim.store.readActor('tally', 'forged'),
      [],
      `${round}: forged events stored`,
    )
    assert.deepEqual(await victim.runtime.actor(tally, 'forged').state(), { value: 0 })
    const refused = victim.seen('event.refused')
    assert.ok(
      refused.every((e) => e.peer === raw.peerId),
      `${round}: every refusal names the hostile peer: ${JSON.stringify(refused)}`,
    )
    // The honest geo and the victim still converge on new writes, both ways.
    await victim.runtime.actor(tally, 'probe').ask('add', { by: 1 })
    await honest.runtime.actor(tally, 'probe').ask('add', { by: 1 })
    expected += 2
    await waitFor(
      `${round}: victim and honest converge on new writes`,
      async () => {
        const states = await Promise.all(
          [victim, honest].map((g) => g.runtime.actor(tally, 'probe').state()),
        )
        return states.every((s) => s.value === expected)
      },
      20_000,
    )
  }

  it(`survives ${ROUNDS} rounds of ${ACTIONS_PER_ROUND} hostile actions, then a victim restart`, async () => {
    const random = seededRandom(SEED)
    for (let round = 1; round <= ROUNDS; round++) {
      const done: string[] = []
      let stream = await raw.open(addressOf(victim))
      let reader = await hello(stream)
      let n = 0
      for (let a = 0; a < ACTIONS_PER_ROUND; a++) {
        const [name, act] = ACTIONS[Math.floor(random() * ACTIONS.length)]!
        if (reader.closed()) {
          stream = await raw.open(addressOf(victim))
          reader = await hello(stream)
          n = 0
        }
        const s = stream
        act({
          send: (bytes) => void s.send(bytes),
          n: () => ++n,
          round,
          raw,
          stranger,
          victimOrigin: victim.nodeId,
          honestOrigin: honest.nodeId,
        })
        done.push(name)
        // Let the victim answer (an ack, drained here) or close the stream before the next action.
        await reader.next(200)
      }
      stream.abort(new Error('round over'))
      await assertUnharmed(`seed ${SEED} round ${round} (${done.join(', ')})`)
    }
    await restart()
    await assertUnharmed(`seed ${SEED} after the victim restarted`)
  })
})
