// Builds dist/: benchmarks measure the compiled code, what `npx anywhere-node` and an installed
// package run (under tsx the sources cost more: per-function helpers, a loader thread).
import { execFileSync } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** Runs `npm run build` in the repository (a few seconds when dist/ is current). */
export function buildDist(): void {
  process.stderr.write('building dist/ (the compiled code is what a node runs)\n')
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'ignore' })
}
