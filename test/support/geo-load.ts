// Load and checks shared by the specs of a geo of several nodes (test/geo): requests through
// the nodes' gateways, what they came to, and two properties every geo must keep (an exact
// counter, a failover after kill -9 with nothing lost or doubled), and a raw exchange of
// frames with a node's geo channel.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { FrameReader, MAX_GEO_CALL_BYTES, type Frame } from '../../transports/geo-channel/frames.js'
import type { GeoNode, GeoNodes } from './geo-nodes.js'
import { poll } from './multi-geo.js'

/** What one request came to. */
export interface Outcome {
  ok: boolean
  status: number
  body: unknown
  /** When it was answered (ms since the epoch). */
  at: number
}

export async function post(node: GeoNode, path: string, body: unknown): Promise<Outcome> {
  try {
    const response = await fetch(`${node.url}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    })
    const text = await response.text()
    return { ok: response.ok, status: response.status, body: parse(text), at: Date.now() }
  } catch (error) {
    // No answer at all: the node died with the request, or the connection broke.
    return { ok: false, status: 0, body: (error as Error).message, at: Date.now() }
  }
}

export function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export async function get<T>(node: GeoNode, path: string): Promise<T> {
  const response = await fetch(`${node.url}${path}`, { signal: AbortSignal.timeout(30_000) })
  assert.equal(
    response.status,
    200,
    `GET ${path} on ${node.name}: ${response.status} ${await response.clone().text()}`,
  )
  return (await response.json()) as T
}

/** Runs `clients` loops of `send(client, n)` until `done()` (checked between requests) or `max` each. */
export async function load(
  clients: number,
  send: (client: number, n: number) => Promise<Outcome>,
  done: () => boolean,
  max = 100_000,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; n < max && !done(); n++) outcomes.push(await send(client, n))
    }),
  )
  return outcomes
}

/** An answer that says surely not applied (a 4xx, or a 503 refusal before running). */
export function refused(outcome: Outcome): boolean {
  return outcome.status >= 400 && outcome.status < 500
}

export function describe3(outcomes: readonly Outcome[]): string {
  const failed = outcomes.filter((o) => !o.ok)
  return `${failed.length} of ${outcomes.length} failed, e.g. ${JSON.stringify(failed.slice(0, 3))}`
}

export interface History {
  total: number
  events: { type: string; origin: string; payload: Record<string, unknown> }[]
}

/** 16 clients increment `counter/<id>` through every node: the value read through each equals the acknowledged increments. */
export async function assertExactCounter(all: readonly GeoNode[], id: string): Promise<void> {
  const outcomes = await load(
    16,
    (client) => post(all[client % all.length]!, `/v1/actors/counter/${id}/increment`, { by: 1 }),
    () => false,
    25,
  )
  const acked = outcomes.filter((o) => o.ok).length
  assert.equal(acked, 16 * 25, describe3(outcomes))
  for (const node of all) {
    const state = await get<{ value: number }>(node, `/v1/actors/counter/${id}`)
    assert.equal(state.value, acked, `the value read through ${node.name}`)
  }
}

/**
 * Writes `ledger/<id>` through the nodes that do not own it, kills its owner with SIGKILL, and
 * checks that another node serves it within the membership timeout + 2 s, that no
 * acknowledged write is lost and none is applied twice.
 */
export async function assertFailoverAfterKill(
  geo: GeoNodes,
  all: readonly GeoNode[],
  id: string,
  membershipTimeoutMs: number,
): Promise<void> {
  const ownerId = await geo.ownerOf(all[0]!, 'ledger', id)
  const owner = all.find((n) => n.nodeId === ownerId)!
  const others = all.filter((n) => n !== owner)
  const sent = new Set<string>()
  const acked = new Set<string>()
  let killedAt = 0
  let ackedAfterKill = 0
  let firstAckAfterKill = 0
  const running = load(
    12,
    async (client, n) => {
      const op = `c${client}-${n}`
      sent.add(op)
      const outcome = await post(
        others[(client + n) % others.length]!,
        `/v1/actors/ledger/${id}/add`,
        {
          op,
        },
      )
      if (outcome.ok) {
        acked.add(op)
        if (killedAt > 0 && outcome.at > killedAt) {
          ackedAfterKill++
          firstAckAfterKill ||= outcome.at
        }
      }
      return outcome
    },
    () => ackedAfterKill >= 100,
  )
  await poll('100 acknowledged writes before the kill', () => acked.size >= 100, 60_000, 20)
  await owner.process.kill('SIGKILL')
  killedAt = Date.now()
  const outcomes = await running
  const failoverMs = firstAckAfterKill - killedAt
  assert.ok(
    failoverMs <= membershipTimeoutMs + 2_000,
    `the first write after the kill was acknowledged ${failoverMs} ms after it`,
  )
  // A failed request is refused unrun (4xx/503) or its outcome is unknown (the owner died with it).
  for (const o of outcomes.filter((o) => !o.ok))
    assert.ok(refused(o) || [0, 502, 503, 504].includes(o.status), JSON.stringify(o))
  const history = await get<History>(others[0]!, `/v1/actors/ledger/${id}/history?limit=1000`)
  assert.ok(history.total <= 1000, 'the history fits one page')
  const applied = history.events.map((e) => String(e.payload.op))
  assert.equal(new Set(applied).size, applied.length, 'an operation was applied twice')
  for (const op of acked) assert.ok(applied.includes(op), `acknowledged ${op} is lost`)
  for (const op of applied) assert.ok(sent.has(op), `${op} was never sent`)
}

/**
 * Writes `frames` on a new connection to a node's geo channel and gathers answer frames until
 * `wanted` came (`'close'`: until the node closes the connection); fails after 30 s.
 */
export async function channelExchange(
  url: string,
  frames: readonly Buffer[],
  wanted: number | 'close',
): Promise<{ frames: Frame[]; closed: boolean }> {
  const { hostname, port } = new URL(url)
  const socket = connect({ host: hostname, port: Number(port) })
  const seen: Frame[] = []
  const reader = new FrameReader(MAX_GEO_CALL_BYTES)
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${wanted} answers in 30 s: ${JSON.stringify(seen)}`)),
        30_000,
      )
      const done = (closed: boolean) => {
        clearTimeout(timer)
        resolve({ frames: seen, closed })
      }
      socket.on('data', (chunk: Buffer) =>
        reader.push(chunk, (frame) => {
          seen.push({ ...frame, body: Buffer.from(frame.body) })
          if (seen.length === wanted) done(false)
        }),
      )
      socket.on('error', () => {})
      socket.on('close', () => done(true))
      socket.write(Buffer.concat(frames))
    })
  } finally {
    socket.destroy()
  }
}
