// `mkdir -p` that always returns. Node's own recursive mkdir never settles where mkdir(2)
// answers ENOENT for a directory whose parent exists (under /proc: `--data-dir /proc/x`
// spun at 100% CPU for good); here each missing level is made in turn, and a level that
// cannot be made is an error.
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

/** Deepest path made (a path of PATH_MAX bytes has at most half as many levels). */
const MAX_LEVELS = 2048

/** Makes `path` and its missing parents; resolves at once when it is a directory already. */
export async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = []
  let at = resolve(path)
  for (let level = 0; ; level++) {
    const made = await makeOne(at)
    if (made !== 'ENOENT') break
    const parent = dirname(at)
    if (parent === at || level >= MAX_LEVELS)
      throw new Error(`cannot make the directory ${path}: none of its parents exists`)
    missing.push(at)
    at = parent
  }
  for (const dir of missing.reverse())
    if ((await makeOne(dir)) === 'ENOENT')
      throw Object.assign(new Error(`ENOENT: cannot make the directory ${dir} (mkdir '${dir}')`), {
        code: 'ENOENT',
        path: dir,
      })
}

/** Makes one directory: 'ENOENT' when its parent is missing (or the system says so anyway). */
async function makeOne(dir: string): Promise<'made' | 'ENOENT'> {
  try {
    await mkdir(dir)
    return 'made'
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return 'ENOENT'
    if (code === 'EEXIST' && (await stat(dir)).isDirectory()) return 'made'
    throw error
  }
}
