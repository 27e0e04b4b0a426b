// The Redis store's one connection: how it is opened (fail fast, reconnect with backoff),
// closed, and described in messages.
import { Redis, type RedisOptions } from 'ioredis'
import { StoreUnavailableError, type Logger } from '../../core/index.js'
import type { RedisStoreSettings } from './options.js'
import { defineStoreScripts, type StoreScripts } from './scripts.js'

/** The first reconnect waits this long; each next one twice as long, up to `reconnectMaxDelayMs`. */
const RECONNECT_MIN_DELAY_MS = 25
/** How long closing waits for the connection to close after QUIT before cutting it. */
const STOP_GRACE_MS = 1_000

/** The only Redis commands the store uses: its scripts, two range reads, INCR (claims), INFO and the lifecycle. */
export type StoreClient = Pick<
  Redis,
  | 'xrangeBuffer'
  | 'zrangebylexBuffer'
  | 'info'
  | 'incr'
  | 'defineCommand'
  | 'connect'
  | 'quit'
  | 'disconnect'
  | 'status'
  | 'on'
  | 'once'
  | 'off'
> &
  StoreScripts

/** A client with the store's scripts defined, not yet connected (attach listeners, then connect). */
export function createStoreClient(settings: RedisStoreSettings, nodeId: string): StoreClient {
  const options: RedisOptions = {
    lazyConnect: true,
    // Fail fast: no queue while disconnected, no retry of a command, no resend after a
    // reconnect (an append whose reply was lost may have been applied: resending it would
    // store it twice; its caller got an error and was never acknowledged).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (attempt) =>
      Math.min(
        RECONNECT_MIN_DELAY_MS * 2 ** Math.min(attempt - 1, 16),
        settings.reconnectMaxDelayMs,
      ),
    // Shown by CLIENT LIST; Redis refuses spaces and newlines in it.
    connectionName: `anywhere-store:${nodeId.replace(/[^\w.:-]/g, '_')}`,
  }
  const client = new Redis(settings.url, options) as unknown as StoreClient
  defineStoreScripts(client)
  return client
}

/** Connects; when Redis cannot be reached, cuts the client and throws `StoreUnavailableError`. */
export async function connectStoreClient(
  client: StoreClient,
  settings: RedisStoreSettings,
): Promise<void> {
  try {
    await client.connect()
  } catch (error) {
    client.disconnect()
    throw new StoreUnavailableError(
      `cannot reach Redis at ${redactUrl(settings.url)}: ${errorMessage(error)}; start redis-server or fix the store url`,
      { cause: error },
    )
  }
}

/** QUITs when connected, else cuts the connection; resolves once no socket or timer is left. */
export async function closeStoreClient(client: StoreClient): Promise<void> {
  if (client.status === 'ready') {
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
    try {
      await client.quit()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        ended,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS))),
      ])
      clearTimeout(timer)
    } catch {
      // Redis went away mid-QUIT: cut the connection below.
    }
  }
  client.disconnect()
}

/** Logs a warning when Redis runs without AOF: then an acknowledged event may be lost. */
export async function warnIfNotDurable(client: StoreClient, logger: Logger): Promise<void> {
  try {
    const info = await client.info('persistence')
    if (/^aof_enabled:0/m.test(info))
      logger.warn(
        'Redis runs without appendonly: acknowledged events are lost if Redis restarts; ' +
          'set appendonly yes and appendfsync always (docs/redis.md)',
      )
  } catch (error) {
    logger.debug('could not read Redis persistence settings', { error })
  }
}

/** True for an error reply of Redis (a script's `error_reply`, WRONGTYPE, ...), not a connection failure. */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError'
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')
}
