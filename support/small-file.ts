// Reading a small file a user or an earlier run left (a config, a key, an id): told apart
// from what must never be read whole before it is opened, since opening a named pipe waits
// for a writer, reading a device never ends, and reading a huge file fills memory.
import { readFile, stat } from 'node:fs/promises'

/**
 * The bytes of `file` when it is a regular file of at most `maxBytes`; otherwise a short
 * reason ('not a regular file (...)', 'N bytes, over M') for the caller's own error. Errors
 * of the file system (ENOENT, EACCES...) are thrown as they are, for the caller to tell apart.
 */
export async function readSmallFile(file: string, maxBytes: number): Promise<Buffer | string> {
  const info = await stat(file)
  if (!info.isFile()) return 'not a regular file (a directory, a device or a pipe)'
  if (info.size > maxBytes) return `${info.size} bytes, over ${maxBytes}`
  return readFile(file)
}
