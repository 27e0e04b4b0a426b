// Three geos on loopback, 40 ms added on every fabric link, clients writing in every geo:
// local write latency with the links connected against the same with every link cut, and
// replication lag under that load. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/multi-geo.bench.ts [--rounds=N] [--seconds=S] [--rate=R]
//
// The geos are real `anywhere-node` processes (the compiled bin, file store) started by the
// test harness (test/support/multi-geo.ts), each fabric link through its TCP proxies
// (test/support/tcp-proxy.ts) delaying every chunk by DELAY_MS each way. One autocannon per
// geo writes to that geo's gateway at a fixed rate (not flat out: the latency of a local
// write, not throughput, is the measure), all three at once. Phases alternate: links
// connected, then every link cut, per round; after a cut phase the links are restored and
// the geos catch up before the next phase. Replication lag is read from each geo's tap
// stream: an `event.ingested` tap's time less the event's HLC wall time (stamped by its
// origin when the command ran; the processes share this machine's clock).
import type autocannon from 'autocannon'
import { loadServer, millis, type LoadSample } from './support/http-load.js'
import { duration, percent, quantile, spread, spreadText, table } from './support/stats.js'
import { startMultiGeo, stopAllMultiGeos, type MultiGeo } from '../test/support/multi-geo.js'
import { buildDist } from './support/build.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const ROUNDS = Number(args.get('rounds') ?? 3)
const SECONDS = Number(args.get('seconds') ?? 6)
/** Requests per second each geo's client sends. */
const RATE = Number(args.get('rate') ?? 200)
const CONNECTIONS = 16
const GEOS = ['a', 'b', 'c'] as const
/** Added to every fabric link, each way. */
const DELAY_MS = 40
/** Ids the writes cycle over: the same in every geo, so replicated events land on actors in use. */
const IDS = 100
const BODY = JSON.stringify({ by: 1 })
const CATCH_UP_TIMEOUT_MS = 120_000

type Phase = 'connected' | 'cut'

interface TapLag {
  /** Lags in ms of the events ingested during the phase. */
  readonly lags: number[]
  stop(): void
}

/** Follows `event.ingested` taps of the geo at `url`, collecting lags while `recording()`. */
async function followIngests(url: string, recording: () => boolean): Promise<TapLag> {
  const lags: number[] = []
  const controller = new AbortController()
  const response = await fetch(`${url}/v1/taps?kind=event.ingested`, {
    signal: controller.signal,
  })
  if (!response.ok || !response.body) throw new Error(`${url}/v1/taps answered ${response.status}`)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buffer += value
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block.split('\n').find((l) => l.startsWith('data: '))
          if (!data || !block.includes('event: event.ingested') || !recording()) continue
          const tap = JSON.parse(data.slice('data: '.length)) as {
            at: number
            events: { hlc: { wall: number } }[]
          }
          for (const event of tap.events) lags.push(tap.at - event.hlc.wall)
        }
      }
    } catch {
      // aborted at the end
    }
  })()
  return { lags, stop: () => controller.abort() }
}

function requests(): autocannon.Request[] {
  return Array.from({ length: IDS }, (_, i) => ({
    method: 'POST' as const,
    path: `/v1/actors/counter/g-${i}/increment`,
    headers: { 'content-type': 'application/json' },
    body: BODY,
  }))
}

/** Every geo's client at once for SECONDS; the samples by geo. */
async function loadAll(cluster: MultiGeo): Promise<LoadSample[]> {
  return Promise.all(
    cluster.geos.map((geo) =>
      loadServer({
        url: geo.url,
        requests: requests(),
        seconds: SECONDS,
        connections: CONNECTIONS,
        rate: RATE,
        pids: [geo.node?.pid],
      }),
    ),
  )
}

interface Round {
  readonly phase: Phase
  readonly samples: LoadSample[]
}

async function main(): Promise<void> {
  const started = performance.now()
  buildDist()
  // The harness's nodes inherit this environment: the compiled bin, not the sources.
  delete process.env.ANYWHERE_NODE_FROM_SOURCE
  const cluster = await startMultiGeo({ geos: GEOS, store: 'file', logLevel: 'warn' })
  let recording = false
  const taps: TapLag[] = []
  const rounds: Round[] = []
  try {
    for (let i = 0; i < GEOS.length; i++)
      for (let j = i + 1; j < GEOS.length; j++) cluster.link(GEOS[i]!, GEOS[j]!).delay(DELAY_MS)
    await cluster.waitReplicated(CATCH_UP_TIMEOUT_MS)
    for (const geo of cluster.geos) taps.push(await followIngests(geo.url, () => recording))
    process.stderr.write(`warm-up (${SECONDS} s)\n`)
    await loadAll(cluster)
    await cluster.waitReplicated(CATCH_UP_TIMEOUT_MS)
    for (let round = 0; round < ROUNDS; round++)
      for (const phase of ['connected', 'cut'] as const) {
        if (phase === 'cut') cluster.isolateAll()
        recording = phase === 'connected'
        const samples = await loadAll(cluster)
        recording = false
        rounds.push({ phase, samples })
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${phase}: ` +
            samples
              .map(
                (s, g) =>
                  `${GEOS[g]} p50 ${millis(s.p50Ms)} p99 ${millis(s.p99Ms)} ${s.throughput.toFixed(0)}/s`,
              )
              .join(', ') +
            '\n',
        )
        if (phase === 'cut') {
          cluster.heal()
          await cluster.waitReplicated(CATCH_UP_TIMEOUT_MS)
        }
      }
  } finally {
    for (const tap of taps) tap.stop()
    await cluster.stop()
    await stopAllMultiGeos()
  }
  const lags = Float64Array.from(taps.flatMap((t) => t.lags)).sort()
  console.log(report(rounds, lags, (performance.now() - started) / 1000))
}

function report(rounds: readonly Round[], lags: Float64Array, seconds: number): string {
  const of = (phase: Phase) => rounds.filter((r) => r.phase === phase)
  const all = (phase: Phase, pick: (s: LoadSample) => number) =>
    spread(of(phase).flatMap((r) => r.samples.map(pick)))
  const connected = of('connected')
  const cut = of('cut')
  /** Per round, the worst geo's p99 connected over the worst geo's p99 cut in the same round. */
  const ratio = spread(
    connected.map((r, i) => {
      const worst = (list: readonly LoadSample[]) => Math.max(...list.map((s) => s.p99Ms))
      return worst(r.samples) / Math.max(1, worst(cut[i]!.samples))
    }),
  )
  const failures = (phase: Phase) =>
    of(phase).reduce((n, r) => n + r.samples.reduce((m, s) => m + s.non2xx + s.errors, 0), 0)
  const row = (phase: Phase, label: string) => [
    label,
    spreadText(
      all(phase, (s) => s.throughput),
      (v) => `${v.toFixed(0)} req/s`,
    ),
    spreadText(
      all(phase, (s) => s.p50Ms),
      millis,
    ),
    spreadText(
      all(phase, (s) => s.p99Ms),
      millis,
    ),
    String(failures(phase)),
  ]
  return [
    '## Multi-geo: local writes with the fabric connected and cut',
    '',
    `Three geos (${GEOS.join(', ')}), each a compiled \`anywhere-node\` process with the file store, started by ` +
      'the test harness on 127.0.0.1; every fabric link goes through TCP proxies that hold each chunk ' +
      `${DELAY_MS} ms each way. In every geo at once, a client (autocannon, ${CONNECTIONS} connections) sends ` +
      `\`POST /v1/actors/counter/<id>/increment\` to that geo's gateway at ${RATE} requests/s over the same ` +
      `${IDS} ids, so every geo's events also land on actors the others write. Each round runs ${SECONDS} s ` +
      'with the links connected, then the same with every link cut (after which the links are restored and the ' +
      `geos catch up before the next phase); ${ROUNDS} rounds after a warm-up. Latency is per geo per phase ` +
      "(autocannon's, 1 ms resolution); median (min–max) over every geo and round. Replication lag: for each " +
      "event a geo ingests while connected, its `event.ingested` tap's time less the event's HLC wall time " +
      `(stamped by its origin as the command ran; one machine, one clock), ${lags.length.toLocaleString('en')} ` +
      `events. All three geos share this machine's 2 cores and one disk (with the load generator): ` +
      "connected, each geo also ingests, fsyncs and folds the other two geos' events, three times the " +
      'work of a cut phase on the same hardware, which geos on their own machines would not share. ' +
      `Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      ['fabric', 'requests/s per geo', 'local write p50', 'local write p99', 'non-2xx + errors'],
      [row('connected', `connected (${DELAY_MS} ms per link)`), row('cut', 'every link cut')],
    ),
    '',
    table(
      ['replication lag', 'p50', 'p99', 'max'],
      [
        [
          `origin's stamp to ingest in another geo (${DELAY_MS} ms link)`,
          duration(quantile(lags, 0.5)),
          duration(quantile(lags, 0.99)),
          duration(lags.at(-1) ?? Number.NaN),
        ],
      ],
    ),
    '',
    '### Goal (issue 11)',
    '',
    table(
      ['goal', 'measured: median (min–max) over rounds', 'met'],
      [
        [
          'local write p99 with links connected within 1.2× of the same with every link cut',
          `${spreadText(ratio, (v) => `×${v.toFixed(2)}`)} (${spreadText(ratio, percent)})`,
          ratio.median <= 1.2 ? 'yes' : '**no**',
        ],
      ],
    ),
  ].join('\n')
}

await main()
