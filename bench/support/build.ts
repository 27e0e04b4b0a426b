// Builds dist/: benchmarks measure the compiled code, what `npx anywhere-node` and an installed
// package run (under tsx the sources cost more: per-function helpers, a loader thread).
import { execFileSync } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** Runs `npm run build` in the repository (a few seconds when dist/ is current); a failure shows tsc's output. */
export function buildDist(): void {
  process.stderr.write('building dist/ (the compiled code is what a node runs)\n')
  try {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe' })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer }
    process.stderr.write(`${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`)
    throw new Error('npm run build failed (its output is above)', { cause: error })
  }
}
