import { z } from 'zod'

/** The part of `GET /v1/fabric` discovery reads: each peer's first advertised URL. */
const fabricSchema = z.object({
  peers: z
    .array(
      z.object({
        advert: z
          .object({ urls: z.array(z.url({ protocol: /^https?$/ }).max(256)).max(4) })
          .optional(),
      }),
    )
    .max(1_000),
})

/** The first advertised URL of each peer in a `/v1/fabric` answer (nothing when it does not parse). */
export function advertUrlsOf(fabric: unknown): string[] {
  const parsed = fabricSchema.safeParse(fabric)
  if (!parsed.success) return []
  return parsed.data.peers.flatMap((peer) => peer.advert?.urls.slice(0, 1) ?? [])
}
