// Reading a small file a user or an earlier run left (a config, a key, an id): told apart
// from what must never be read whole, since opening a named pipe waits for a writer, reading
// a device never ends, and reading a huge file fills memory.
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

/**
 * The bytes of `file` when it is a regular file of at most `maxBytes`; otherwise a short
 * reason ('not a regular file (...)', 'N bytes, over M') for the caller's own error. Errors
 * of the file system (ENOENT, EACCES...) are thrown as they are, for the caller to tell apart.
 * The kind and size are those of the file opened (no window for it to be swapped for a pipe
 * between a check and the read), opened without waiting for a pipe's writer, and no more than
 * `maxBytes` is ever read.
 */
export async function readSmallFile(file: string, maxBytes: number): Promise<Buffer | string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const info = await handle.stat()
    if (!info.isFile()) return 'not a regular file (a directory, a device or a pipe)'
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
