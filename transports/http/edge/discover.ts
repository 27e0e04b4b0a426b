import { request } from 'undici'
import { advertUrlsOf } from './advert-urls.js'
import { readBounded } from './geo-entry.js'

/** Largest `/v1/fabric` body read from a geo during discovery. */
export const MAX_FABRIC_BODY_BYTES = 1024 * 1024

/**
 * Asks each geo in `from` for the URLs the other geos advertise over the fabric
 * (`GET /v1/fabric`). A geo that does not answer is skipped: it is probed like any other.
 */
export async function discoverGeos(from: readonly string[], timeoutMs: number): Promise<string[]> {
  const found = new Set<string>()
  await Promise.allSettled(
    from.map(async (base) => {
      const response = await request(new URL('/v1/fabric', base), {
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await readBounded(response.body, MAX_FABRIC_BODY_BYTES)
      if (response.statusCode !== 200) return
      for (const url of advertUrlsOf(JSON.parse(text) as unknown)) found.add(url)
    }),
  )
  return [...found]
}
