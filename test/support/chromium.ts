// Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
// (its own browser download cannot run here). Skips without the binary, fails on CI.
import { accessSync, constants } from 'node:fs'

/** The Chromium binary: CHROMIUM_PATH, or Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

function hasChromium(): boolean {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A mocha hook (`before(requireChromium)`): skips without Chromium, fails on CI. */
export function requireChromium(this: Mocha.Context): void {
  if (hasChromium()) return
  const message = `no Chromium at ${CHROMIUM_PATH}: install it (apt-get install chromium) or set CHROMIUM_PATH`
  if (process.env.CI) throw new Error(`${message}; CI must run the browser tests`)
  process.stderr.write(`\n  Skipping browser tests: ${message}.\n\n`)
  this.skip()
}
