// Durable file writes: what survives a crash is either the old content or the new, whole.
import { randomBytes } from 'node:crypto'
import { link, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/** How `writeFileDurably` puts the file in place. */
export interface DurableWriteOptions {
  /**
   * The file's permissions, set exactly (whatever the umask): for a secret, `0o600`.
   * Without it, the file is created with the process's default mode.
   */
  readonly mode?: number
  /**
   * `true` (the default) replaces an existing file (rename). `false` never does: the file is
   * linked into place, and when `path` already exists the write rejects with the `EEXIST`
   * error of the link, for a caller that must keep whichever write got there first.
   */
  readonly overwrite?: boolean
}

/**
 * Writes `data` to `path` so that a crash leaves either the old file (or none) or the new one,
 * complete: the data goes to a temporary file next to it, is fsynced, then renamed (or
 * linked) over `path`, and the directory is fsynced so the new name is durable too.
 */
export async function writeFileDurably(
  path: string,
  data: string | Uint8Array,
  options: DurableWriteOptions = {},
): Promise<void> {
  // A name of its own per write: concurrent writers (two processes starting at once) never
  // share a temporary file.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temporary, 'wx', options.mode)
  try {
    try {
      await handle.writeFile(data)
      if (options.mode !== undefined) await handle.chmod(options.mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.overwrite === false) await link(temporary, path)
    else await rename(temporary, path)
  } finally {
    // After a rename there is nothing left to remove; after a link (or a failure) the temporary name is.
    await rm(temporary, { force: true })
  }
  await syncDirectory(dirname(path))
}

/** Makes a created, renamed or removed name in `dir` durable (fsync of the directory). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
