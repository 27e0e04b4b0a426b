import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM_PATH, requireChromium } from '../support/chromium.js'
import { startMultiGeo, stopAllMultiGeos, type Geo, type MultiGeo } from '../support/multi-geo.js'

/** Screenshots land here (gitignored), kept after the run as the test's artifact. */
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts')

describe('dashboard: three real geos behind proxies, seen in headless Chromium', function () {
  this.timeout(180_000)
  before(requireChromium)

  let cluster: MultiGeo | undefined
  let browser: Browser | undefined
  let page: Page | undefined

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) {
        await mkdir(ARTIFACTS, { recursive: true })
        await page
          .screenshot({ path: join(ARTIFACTS, 'dashboard-failed.png'), fullPage: true })
          .catch(() => {})
        process.stderr.write(
          `--- dashboard text ---\n${await page.innerText('body').catch(() => '?')}\n`,
        )
      }
      if (cluster)
        for (const geo of cluster.geos)
          process.stderr.write(`--- output of geo ${geo.name} ---\n${geo.output().slice(-3_000)}\n`)
    }
    await browser?.close()
    browser = undefined
    page = undefined
    await stopAllMultiGeos()
    cluster = undefined
  })

  /** Waits for a selector, saying what was on the page when it did not show up. */
  async function see(what: string, selector: string, timeoutMs: number): Promise<number> {
    const started = Date.now()
    try {
      await page!.waitForSelector(selector, { timeout: timeoutMs })
    } catch (error) {
      const cards = await page!.$$eval(
        '.geo',
        (els: ReadonlyArray<{ getAttribute(name: string): string | null }>) =>
          els.map(
            (e) =>
              `${e.getAttribute('data-geo')}: ${e.getAttribute('data-status')} lag=${e.getAttribute('data-lag-events')}`,
          ),
      )
      throw new Error(
        `${what}: not seen within ${timeoutMs} ms (${selector}); geo cards: ${cards.join('; ')}`,
        {
          cause: error,
        },
      )
    }
    return Date.now() - started
  }

  it('shows every geo connected, a cut link down within 5 s, the lag back to 0 after the heal, and the conflict', async () => {
    cluster = await startMultiGeo({ geos: ['a', 'b', 'c'] })
    const [a, b] = cluster.geos as [Geo, Geo, Geo]
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(`${a.url}/dashboard`)

    await see('geo a shown as this geo', '.geo[data-geo="a"][data-status="self"]', 30_000)
    await see('b connected', '.geo[data-geo="b"][data-status="up"]', 30_000)
    await see('c connected', '.geo[data-geo="c"][data-status="up"]', 30_000)

    // Cut a off from b and c (with c up, b's writes would reach a through c).
    cluster.partition(['a'], ['b', 'c'])
    const downAfter = await see('b down', '.geo[data-geo="b"][data-status="down"]', 5_000)
    await see('c down', '.geo[data-geo="c"][data-status="down"]', 5_000)
    process.stderr.write(`      (the cut link was shown down after ${downAfter} ms)\n`)

    // Both sides write the same register, b first: a's replica then holds a later write when b's arrives.
    await b.command('register', 'motd', 'set', { value: 'written in b' })
    await a.command('register', 'motd', 'set', { value: 'written in a' })
    await a.state('register', 'motd')

    cluster.heal()
    await see(
      'b back with no lag',
      '.geo[data-geo="b"][data-status="up"][data-lag-events="0"]',
      30_000,
    )
    await see(
      'c back with no lag',
      '.geo[data-geo="c"][data-status="up"][data-lag-events="0"]',
      30_000,
    )
    await cluster.waitReplicated()
    // The actor's next use re-folds it (b's event sorts before a's, which a applied first).
    assert.deepEqual(await a.state('register', 'motd'), { value: 'written in a' })
    assert.deepEqual(await b.state('register', 'motd'), { value: 'written in a' })
    await see('the conflict listed', '#conflicts li.conflict[data-actor="register/motd"]', 10_000)
    const conflict = await page.innerText('#conflicts li.conflict')
    assert.match(conflict, /register\/motd/)
    assert.match(conflict, /b-mem-[0-9a-f]{8}\S*:1 sorted before a-mem-[0-9a-f]{8}\S*:1/)

    // The actor lookup shows the state and both events in merge order, with their geos.
    await page.selectOption('#actor-type', 'register')
    await page.fill('#actor-id', 'motd')
    await page.click('#lookup button')
    await see('the actor state', '#actor-state', 10_000)
    assert.match(await page.innerText('#actor-state'), /written in a/)
    const geos = await page.$$eval(
      '#actor-result table tr td:first-child',
      (cells: ReadonlyArray<{ textContent: string | null }>) => cells.map((c) => c.textContent),
    )
    assert.deepEqual(geos, ['b', 'a'])

    // The tap tail shows the fabric's steps (its default filter).
    await see('a peer.connected line in the tap tail', '#taps li', 10_000)

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    assert.deepEqual(pageErrors, [], 'no script error on the page')
  })
})
