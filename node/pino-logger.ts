// The node's default logger: pino behind the core's `Logger` port. JSON lines when stderr is
// not a terminal (what log shippers read), one readable line per entry on a terminal.
import { pino, stdSerializers, stdTimeFunctions, type DestinationStream } from 'pino'
import type { LogFields, Logger, LogLevel } from '../core/index.js'

/** How lines are written: `auto` is `pretty` on a terminal, `json` otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

export interface PinoLoggerInit {
  level?: LogLevel
  format?: LogFormat
  /** Fields on every line (the node adds its geo and node id). */
  fields?: LogFields
  /** Where lines go (default: stderr). Pretty lines are written to it as text. */
  destination?: { write(line: string): unknown }
  /** Whether `destination` is a terminal (default: stderr's `isTTY`); decides `auto`. */
  isTTY?: boolean
  /** Colours in pretty lines (default: on a terminal, unless NO_COLOR is set). */
  colors?: boolean
}

/** A `Logger` that writes through pino. */
export function pinoLogger(init: PinoLoggerInit = {}): Logger {
  const isTTY = init.isTTY ?? (init.destination ? false : process.stderr.isTTY === true)
  const format = init.format ?? 'auto'
  const pretty = format === 'pretty' || (format === 'auto' && isTTY)
  const out = init.destination ?? process.stderr
  const destination: DestinationStream = pretty
    ? prettyStream(out, init.colors ?? (isTTY && process.env.NO_COLOR === undefined))
    : { write: (line: string) => void out.write(line) }
  const logger = pino(
    {
      level: init.level ?? 'info',
      base: init.fields ?? {},
      timestamp: stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: a person reading the JSON need not know that 40 is warn.
      formatters: { level: (label) => ({ level: label }) },
      // Our components log an error under `error`; pino's own convention is `err`. Both keep
      // the stack and the chain of causes.
      serializers: { error: stdSerializers.errWithCause, err: stdSerializers.errWithCause },
    },
    destination,
  )
  return adapt(logger)
}

function adapt(logger: pino.Logger): Logger {
  return {
    debug: (message, fields) => (fields ? logger.debug(fields, message) : logger.debug(message)),
    info: (message, fields) => (fields ? logger.info(fields, message) : logger.info(message)),
    warn: (message, fields) => (fields ? logger.warn(fields, message) : logger.warn(message)),
    error: (message, fields) => (fields ? logger.error(fields, message) : logger.error(message)),
    child: (fields) => adapt(logger.child(fields)),
  }
}

const LEVEL_COLORS: Record<string, string> = {
  trace: '\u001b[90m',
  debug: '\u001b[90m',
  info: '\u001b[32m',
  warn: '\u001b[33m',
  error: '\u001b[31m',
  fatal: '\u001b[35m',
}
const RESET = '\u001b[0m'
const DIM = '\u001b[2m'

/** Fields shown before the message, in this order, as `[geo node component]`. */
const CONTEXT_KEYS = ['geo', 'nodeId', 'component'] as const
/** pino's own keys, not shown as `key=value`. */
const OWN_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', ...CONTEXT_KEYS])

/**
 * Turns pino's JSON lines into one readable line each:
 * `12:00:01.234 WARN  [eu eu-1a2b fabric] fabric peer lost peer=12D3… reason=closed`,
 * with an error's stack and causes indented below it.
 */
export function prettyStream(
  out: { write(text: string): unknown },
  colors = false,
): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line) as Record<string, unknown>
      } catch {
        out.write(line)
        return
      }
      out.write(prettyLine(entry, colors))
    },
  }
}

/** One entry as text (exported for tests). */
export function prettyLine(entry: Record<string, unknown>, colors = false): string {
  const level = typeof entry.level === 'string' ? entry.level : 'info'
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : ''
  const context = CONTEXT_KEYS.map((k) => entry[k])
    .filter((v) => v !== undefined)
    .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
    .join(' ')
  const paint = (code: string | undefined, text: string) =>
    colors && code ? `${code}${text}${RESET}` : text
  const stacks: string[] = []
  const rest = Object.entries(entry)
    .filter(([k]) => !OWN_KEYS.has(k))
    .map(([k, v]) => {
      if (isSerializedError(v)) {
        stacks.push(errorText(v))
        return `${k}=${v.type ?? 'Error'}: ${v.message}`
      }
      return `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`
    })
  const head = [
    paint(DIM, time),
    paint(LEVEL_COLORS[level], level.toUpperCase().padEnd(5)),
    context ? paint(DIM, `[${context}]`) : '',
    typeof entry.msg === 'string' ? entry.msg : '',
    ...rest,
  ]
    .filter((part) => part !== '')
    .join(' ')
  const tail = stacks.map((s) => s.replace(/^/gm, '    ')).join('\n')
  return tail ? `${head}\n${tail}\n` : `${head}\n`
}

interface SerializedError {
  type?: string
  message: string
  stack?: string
  cause?: unknown
}

function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SerializedError).message === 'string' &&
    (typeof (value as SerializedError).stack === 'string' ||
      typeof (value as SerializedError).type === 'string')
  )
}

/** The stack, then each cause's (pino's `errWithCause` nests them under `cause`), at most 8 deep. */
function errorText(error: SerializedError): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 8 && isSerializedError(current); depth++) {
    const text = current.stack ?? `${current.type ?? 'Error'}: ${current.message}`
    parts.push(depth === 0 ? text : `caused by: ${text}`)
    current = current.cause
  }
  return parts.join('\n')
}
