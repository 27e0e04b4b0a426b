// Reading a small file a user or an earlier run left (a config, a key, an id): told apart
// from what must never be read whole, since opening a named pipe waits for a writer, reading
// a device never ends, and reading a huge file fills memory.
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/**
 * Opens `file` when it is a regular file; otherwise closes it again and returns a short
 * reason ('not a regular file (...)'). It is opened without waiting for a pipe's writer, and
 * the kind checked is that of the file opened, so no swap after a check on its path can slip
 * a pipe or a device in. Errors of the file system (ENOENT, EACCES...) are thrown as they are.
 */
export async function openRegularFile(
  file: string,
  access: 'read' | 'read-write' = 'read',
): Promise<FileHandle | string> {
  const flags = access === 'read' ? constants.O_RDONLY : constants.O_RDWR
  const handle = await open(file, flags | constants.O_NONBLOCK)
  if ((await handle.stat()).isFile()) return handle
  await handle.close()
  return 'not a regular file (a directory, a device or a pipe)'
}

/**
 * The bytes of `file` when it is a regular file of at most `maxBytes`; otherwise a short
 * reason ('not a regular file (...)', 'N bytes, over M') for the caller's own error. Errors
 * of the file system (ENOENT, EACCES...) are thrown as they are, for the caller to tell apart.
 * The kind and size are those of the file opened (`openRegularFile`), and no more than
 * `maxBytes` is ever read.
 */
export async function readSmallFile(file: string, maxBytes: number): Promise<Buffer | string> {
  const handle = await openRegularFile(file)
  if (typeof handle === 'string') return handle
  try {
    const info = await handle.stat()
    if (info.size > maxBytes) return `${info.size} bytes, over ${maxBytes}`
    // Read to the end, never past one byte more than allowed (the file may have grown since).
    const chunks: Buffer[] = []
    let length = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length))
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      length += bytesRead
      if (length > maxBytes) return `over ${maxBytes} bytes`
    }
    return Buffer.concat(chunks, length)
  } finally {
    await handle.close()
  }
}
