import { systemClock, type Clock } from './clock.js'

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export type LogFields = Record<string, unknown>

/** The injected logger: every component logs through it, never through `console`. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger
}

/** Writes one line per entry: `time level message key=value ...` (or JSON when `json`). */
export function streamLogger(init: {
  level?: LogLevel
  json?: boolean
  write?: (line: string) => void
  fields?: LogFields
}): Logger {
  const threshold = LOG_LEVELS.indexOf(init.level ?? 'info')
  const write = init.write ?? ((line: string) => process.stderr.write(line))
  const base = init.fields ?? {}
  const log = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return
    const all = { ...base, ...fields }
    const time = new Date().toISOString()
    if (init.json) {
      write(JSON.stringify({ time, level, message, ...all }, errorReplacer) + '\n')
      return
    }
    const rest = Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, errorReplacer)}`)
      .join(' ')
    write(`${time} ${level.padEnd(5)} ${message}${rest ? ' ' + rest : ''}\n`)
  }
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => streamLogger({ ...init, fields: { ...base, ...fields } }),
  }
}

/**
 * A warning that may repeat often (once per failing request): the first is written at once,
 * then at most one per `everyMs`, each saying how many were left out since the last. Those
 * left out of a burst that then stops are told at the end of its window (the last one's
 * fields, with the count).
 */
export class ThrottledWarning {
  private lastAt = -Infinity
  private suppressed = 0
  private lastFields: LogFields = {}
  private cancelFlush: (() => void) | undefined

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly everyMs = 10_000,
    private readonly clock: Clock = systemClock(),
  ) {}

  warn(fields: LogFields): void {
    const now = this.clock.now()
    if (now - this.lastAt < this.everyMs) {
      this.suppressed++
      this.lastFields = fields
      this.cancelFlush ??= this.clock.setTimer(this.lastAt + this.everyMs - now, () => {
        this.cancelFlush = undefined
        this.close()
      })
      return
    }
    this.write(fields, now)
  }

  /** Writes the count of those left out now, if any, and cancels the end-of-window line (the owner stops). */
  close(): void {
    this.cancelFlush?.()
    this.cancelFlush = undefined
    if (this.suppressed > 0) this.write(this.lastFields, this.clock.now())
  }

  private write(fields: LogFields, now: number): void {
    this.cancelFlush?.()
    this.cancelFlush = undefined
    this.logger.warn(
      this.message,
      this.suppressed > 0 ? { ...fields, suppressed: this.suppressed } : fields,
    )
    this.lastAt = now
    this.suppressed = 0
    this.lastFields = {}
  }
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return streamLogger({ level: 'silent' })
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? serializeError(value, 0) : value
}

/** An error with its stack and the chain of its causes (at most 8 deep). */
function serializeError(error: Error, depth: number): Record<string, unknown> {
  const cause = error.cause
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    ...(cause === undefined || depth >= 8
      ? {}
      : { cause: cause instanceof Error ? serializeError(cause, depth + 1) : cause }),
  }
}
