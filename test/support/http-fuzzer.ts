// A seeded fuzzer of the HTTP gateway: random methods, paths, headers, bodies, framing and
// pacing against a running node, checking every answer. Case `i` of seed `s` is drawn from
// its own generator, so a run replays exactly and one case can be replayed alone.
import { parseFirstResponse, rawExchange } from './raw-http.js'
import { SeededRandom } from './seeded-random.js'
import { cases, type FetchStep, type FuzzCase } from './http-fuzz-cases.js'

export interface FuzzRunInit {
  /** The gateway's base URL (http://127.0.0.1:PORT). */
  url: string
  seed: number
  requests: number
  /** Cases in flight at once. */
  concurrency?: number
  /** Only this case index (replay of one finding). */
  only?: number
  signal?: AbortSignal
}

/** One answer that broke a rule, with what is needed to replay it. */
export interface Violation {
  index: number
  label: string
  rule: string
  seen: string
}

export interface FuzzReport {
  seed: number
  cases: number
  /** Count of answers by status (`none` when the server closed or kept silent, as allowed). */
  byStatus: Record<string, number>
  violations: Violation[]
  /** Requests sent twice because the server closed a reused keep-alive connection under them. */
  retriedAfterClose: number
}

/** The statuses a 5xx rule tolerates: none (every 5xx is a finding). */
const TOLERATED_5XX: ReadonlySet<number> = new Set()

/** Runs `requests` cases against `url` and reports every answer that breaks a rule. */
export async function runHttpFuzz(init: FuzzRunInit): Promise<FuzzReport> {
  const root = new SeededRandom(init.seed)
  const port = Number(new URL(init.url).port)
  const report: FuzzReport = {
    seed: init.seed,
    cases: 0,
    byStatus: {},
    violations: [],
    retriedAfterClose: 0,
  }
  const indexes =
    init.only !== undefined ? [init.only] : Array.from({ length: init.requests }, (_, i) => i)
  let next = 0
  const retried = { count: 0 }
  const worker = async () => {
    while (next < indexes.length && !init.signal?.aborted) {
      const index = indexes[next++]!
      const fuzzCase = cases(root.fork(index), index)
      report.cases++
      for (const outcome of await runCase(init.url, port, fuzzCase, retried)) {
        report.byStatus[outcome.status] = (report.byStatus[outcome.status] ?? 0) + 1
        if (outcome.rule)
          report.violations.push({
            index,
            label: fuzzCase.label,
            rule: outcome.rule,
            seen: outcome.seen.slice(0, 400),
          })
      }
    }
  }
  await Promise.all(Array.from({ length: init.concurrency ?? 8 }, worker))
  report.retriedAfterClose = retried.count
  return report
}

interface Outcome {
  status: string
  rule?: string
  seen: string
}

async function fetchOnce(url: string, step: FetchStep): Promise<Outcome> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 15_000)
  try {
    const response = await fetch(`${url}${step.path}`, {
      method: step.method,
      headers: step.headers,
      ...(step.body !== undefined ? { body: step.body } : {}),
      signal: controller.signal,
    })
    const streaming = response.headers.get('content-type')?.startsWith('text/event-stream')
    // The tap stream never ends: its headers are the answer.
    const body = streaming ? (await response.body?.cancel(), '') : await response.text()
    return check(response.status, response.headers.get('content-type') ?? '', body, step.method)
  } catch (error) {
    return {
      status: 'error',
      rule: 'the fetch failed (no answer)',
      seen: String((error as Error).cause ?? error),
    }
  } finally {
    clearTimeout(timer)
  }
}

async function runCase(
  url: string,
  port: number,
  fuzzCase: FuzzCase,
  retried: { count: number },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  for (const step of fuzzCase.steps) {
    if (step.kind === 'fetch') {
      let outcome = await fetchOnce(url, step)
      // A keep-alive connection the server closed just as the client reused it: once more,
      // counted, so the report shows how often (see retriedAfterClose).
      if (outcome.status === 'error' && /other side closed/.test(outcome.seen)) {
        retried.count++
        outcome = await fetchOnce(url, step)
      }
      outcomes.push(
        step.answer === 'optional' && outcome.status === 'error'
          ? { status: 'none', seen: outcome.seen }
          : outcome,
      )
    } else {
      const answer = await rawExchange(port, step)
      const response = parseFirstResponse(answer.bytes)
      if (!response) {
        const seen = `${answer.closed ? 'closed' : 'silent'} after ${answer.ms} ms: ${answer.bytes.toString('latin1').slice(0, 200)}`
        outcomes.push(
          step.answer === 'required'
            ? { status: 'none', rule: 'no HTTP answer', seen }
            : { status: 'none', seen },
        )
        continue
      }
      outcomes.push(
        check(response.status, response.headers['content-type'] ?? '', response.body, step.method),
      )
    }
  }
  return outcomes
}

/** The rules every answer follows: no 5xx; a 4xx carries a JSON body with a string `error`. */
export function check(status: number, contentType: string, body: string, method: string): Outcome {
  const seen = `${status} ${contentType} ${body}`
  if (status >= 500 && !TOLERATED_5XX.has(status))
    return { status: String(status), rule: 'a 5xx answer', seen }
  if (status >= 400 && status < 500 && method !== 'HEAD') {
    if (!/application\/json/.test(contentType))
      return { status: String(status), rule: 'a 4xx without a JSON content type', seen }
    try {
      const parsed = JSON.parse(body) as { error?: unknown }
      if (typeof parsed?.error !== 'string')
        return { status: String(status), rule: 'a 4xx whose JSON has no string error', seen }
    } catch {
      return { status: String(status), rule: 'a 4xx whose body is not JSON', seen }
    }
  }
  return { status: String(status), seen }
}
