// Durable file writes: what survives a crash is either the old content or the new, whole.
import { open } from 'node:fs/promises'

/** Makes a created, renamed or removed name in `dir` durable (fsync of the directory). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
