// What the store benchmarks share: the events they append and a deadline for one run.
import type { EventDraft } from '../../core/index.js'

/** Distinct actors the events are spread over. */
export const BENCH_ACTORS = 1_000
/** The origin of every benchmark event. */
export const BENCH_ORIGIN = 'node-bench'
/** A benchmark gives up rather than hang if one run takes longer than this. */
export const RUN_DEADLINE_MS = 30_000

/** The i-th event of a run: a counter increment, spread over BENCH_ACTORS actors. */
export function draftFor(i: number): EventDraft {
  return {
    actorType: 'counter',
    actorId: `c${i % BENCH_ACTORS}`,
    origin: BENCH_ORIGIN,
    hlc: { wall: 1_700_000_000_000 + i, logical: 0 },
    type: 'incremented',
    payload: { by: 1 },
  }
}

/** `work`, or an error naming `what` if it takes longer than RUN_DEADLINE_MS. */
export async function withDeadline<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took over ${RUN_DEADLINE_MS} ms`)),
      RUN_DEADLINE_MS,
    )
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
