// The dashboard under load: one node with 10 peer geos on its allowlist (no addresses: they
// are shown down, each with its card) taking 1,000 commands a second, its /dashboard open in
// headless Chromium with the tap tail showing every kind. Measures the page's main-thread
// time (Chrome's own TaskDuration) per second of wall time, idle and under load, and how long
// a frame waits. Prints a markdown section.
//
//   node --expose-gc --import tsx bench/dashboard.bench.ts [--seconds=S]
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type CDPSession, type Page } from 'playwright-core'
import { createNode } from '../node/index.js'
import { table } from './support/stats.js'

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    return [key!, value] as const
  }),
)
const SECONDS = Number(args.get('seconds') ?? 10)
const PEERS = 10
const COMMANDS_PER_SECOND = 1_000
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

interface Window {
  readonly label: string
  /** Main-thread busy time of the page per second of wall time. */
  readonly busyShare: number
  /** Script time per second. */
  readonly scriptMsPerSecond: number
  /** Worst wait for an animation frame over the window's probes. */
  readonly worstFrameMs: number
  readonly commands: number
  /** Tap events the page took in the last second of the window (its own counter). */
  readonly tapEventsShown: number
}

/** Chrome's cumulative counters of the page (TaskDuration, ScriptDuration, in seconds). */
async function metrics(session: CDPSession): Promise<Record<string, number>> {
  const { metrics: list } = await session.send('Performance.getMetrics')
  return Object.fromEntries(list.map((m) => [m.name, m.value]))
}

/** Runs for SECONDS, probing frame latency every 250 ms; `load` sends commands meanwhile. */
async function measure(
  page: Page,
  session: CDPSession,
  label: string,
  load: (() => Promise<number>) | undefined,
): Promise<Window> {
  const before = await metrics(session)
  const started = performance.now()
  let commands = 0
  let running = true
  const loading = (async () => {
    if (!load) return
    while (running) commands += await load()
  })()
  let worstFrameMs = 0
  while (performance.now() - started < SECONDS * 1000) {
    // A string: the function runs in the page, where requestAnimationFrame exists.
    const waited = (await page.evaluate(
      'new Promise((resolve) => { const asked = performance.now(); requestAnimationFrame(() => resolve(performance.now() - asked)) })',
    )) as number
    worstFrameMs = Math.max(worstFrameMs, waited)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  running = false
  await loading
  const elapsed = (performance.now() - started) / 1000
  const after = await metrics(session)
  const tapRate = await page.innerText('#tap-rate')
  return {
    label,
    busyShare: (after.TaskDuration! - before.TaskDuration!) / elapsed,
    scriptMsPerSecond: ((after.ScriptDuration! - before.ScriptDuration!) * 1000) / elapsed,
    worstFrameMs,
    commands,
    tapEventsShown: Number(/\d+/.exec(tapRate)?.[0] ?? 0),
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const dataDir = await mkdtemp(join(tmpdir(), 'anywhere-dashboard-bench-'))
  const peers = await Promise.all(
    Array.from({ length: PEERS }, async (_, i) => ({
      geo: `peer-${i}`,
      peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(),
    })),
  )
  const node = await createNode({
    geo: 'bench',
    dataDir,
    store: { kind: 'memory' },
    http: { port: 0 },
    log: { level: 'silent' },
    fabric: { listen: ['/ip4/127.0.0.1/tcp/0'], peers },
  })
  await node.start()
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    await page.goto(`${node.gateway!.url}/dashboard`)
    await page.waitForSelector(`.geo[data-geo="peer-${PEERS - 1}"][data-status="down"]`, {
      timeout: 30_000,
    })
    // The tap tail with every kind: the heaviest setting of the page.
    await page.click('#tap-all')
    const session = await page.context().newCDPSession(page)
    await session.send('Performance.enable')
    const idle = await measure(
      page,
      session,
      'idle: 10 peer cards, tap tail on every kind',
      undefined,
    )
    // 1,000 commands a second, in bursts of 10 every 10 ms, each persisted (one event).
    const burst = async () => {
      const sent = performance.now()
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          node.runtime.ask('counter', `load-${i}`, 'increment', { by: 1 }),
        ),
      )
      const wait = 10 - (performance.now() - sent)
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      return 10
    }
    const loaded = await measure(
      page,
      session,
      `${COMMANDS_PER_SECOND.toLocaleString('en')} commands/s (each: received, handled, appended taps)`,
      burst,
    )
    const cards = await page.$$eval('.geo', (els: ReadonlyArray<unknown>) => els.length)
    if (cards !== PEERS + 1) throw new Error(`${cards} geo cards, expected ${PEERS + 1}`)
    console.log(report([idle, loaded], (performance.now() - started) / 1000))
  } finally {
    await browser.close()
    await node.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

function report(windows: readonly Window[], seconds: number): string {
  return [
    '## Dashboard: 10 peers, 1,000 commands a second',
    '',
    `One node (memory store) with ${PEERS} peer geos on its allowlist, without addresses (each shown as a ` +
      `card, down), its \`/dashboard\` open in headless Chromium (Debian's, through playwright-core) with the ` +
      `tap tail on every kind. Each window lasts ${SECONDS} s; "under load" sends ${COMMANDS_PER_SECOND.toLocaleString('en')} ` +
      `commands a second in process (\`counter.increment\`, one event each), so the tap stream carries about three tap ` +
      `events per command. "Main thread busy" is Chrome's TaskDuration over the window (CDP Performance metrics), ` +
      `per second of wall time; "worst frame wait" the longest a \`requestAnimationFrame\` callback waited over ` +
      `probes every 250 ms. Runs on the same 2 shared cores as the node. Whole section: ${seconds.toFixed(0)} s.`,
    '',
    table(
      [
        'window',
        'commands sent',
        'tap events/s shown by the page',
        'main thread busy',
        'script ms per s',
        'worst frame wait',
      ],
      windows.map((w) => [
        w.label,
        w.commands.toLocaleString('en'),
        String(w.tapEventsShown),
        `${(w.busyShare * 100).toFixed(1)}%`,
        w.scriptMsPerSecond.toFixed(0),
        `${w.worstFrameMs.toFixed(0)} ms`,
      ]),
    ),
  ].join('\n')
}

await main()
