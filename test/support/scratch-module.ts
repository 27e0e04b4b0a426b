// Config modules written by tests live in a scratch dir inside the repository, so they
// resolve `zod` and `anywhere` from its node_modules as a user's project would.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A fresh scratch dir in the repository (ignored by git as tmp-config-*). */
export function scratchDir(): Promise<string> {
  return mkdtemp(join(REPO_ROOT, 'tmp-config-'))
}

/** Writes `source` as `<name>` in a new scratch dir; `remove()` deletes the dir. */
export async function scratchModule(
  name: string,
  source: string,
): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await scratchDir()
  const file = join(dir, name)
  await writeFile(file, source)
  return { file, remove: () => rm(dir, { recursive: true, force: true }) }
}
