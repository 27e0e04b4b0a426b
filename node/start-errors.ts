// A node start that failed because of the user's settings (an unwritable data dir, a port in
// use), turned into a ConfigError that names the fix.
import { resolve } from 'node:path'
import { ConfigError } from '../core/index.js'
import type { NodeConfig } from './config.js'

/** Errno codes that mean "this process cannot write there". */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'])

/** The first error with an errno code in an error's chain of causes. */
function errnoError(error: unknown): NodeJS.ErrnoException | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return e as NodeJS.ErrnoException
  }
  return undefined
}

/** The errno code of an error or of one of its causes. */
function errnoCode(error: unknown): string | undefined {
  return errnoError(error)?.code
}

/** A data dir the node cannot write to, as a ConfigError naming it and the fix; else undefined. */
export function dataDirError(error: unknown, dataDir: string): ConfigError | undefined {
  const errno = errnoError(error)
  const code = errno?.code
  if (!errno || !code) return undefined
  // ENOENT: a directory under the data dir that cannot be made (under /proc, say).
  const underDataDir =
    code === 'ENOENT' && typeof errno.path === 'string' && errno.path.startsWith(resolve(dataDir))
  if (!NOT_WRITABLE.has(code) && !underDataDir) return undefined
  const why = error instanceof Error ? error.message : String(error)
  return new ConfigError(
    `data dir ${dataDir} is not writable (${why.startsWith(`${code}:`) ? why : `${code}: ${why}`}); choose another with --data-dir (or dataDir in the config)`,
    { cause: error },
  )
}

/** A failed start caused by the user's settings (a port in use, an unwritable dir), as a ConfigError. */
export function startError(
  error: unknown,
  config: NodeConfig,
  dataDir: string,
): ConfigError | undefined {
  const message = error instanceof Error ? error.message : String(error)
  if (errnoCode(error) === 'EADDRINUSE')
    return new ConfigError(
      `the gateway cannot listen: ${config.http.host}:${config.http.port} is already in use; stop what holds it or pick another port with --port (0 picks a free one)`,
      { cause: error },
    )
  // libp2p reports every listen address that failed in one message, one per line.
  const fabricInUse = [...message.matchAll(/^\s*(\/\S+): .*EADDRINUSE/gm)].map((m) => m[1])
  if (fabricInUse.length > 0)
    return new ConfigError(
      `the fabric cannot listen: ${fabricInUse.join(', ')} is already in use; pick another address with --fabric-listen (tcp/0 picks a free port)`,
      { cause: error },
    )
  return dataDirError(error, dataDir)
}
