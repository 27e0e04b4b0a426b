/** Reads a node's `GET /v1/taps` server-sent events and hands each one on as a JSON line. */
export async function streamTaps(
  flags: { url: string; kind?: string; actor?: string; token?: string },
  print: (line: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  const url = new URL('/v1/taps', flags.url)
  if (flags.kind) url.searchParams.set('kind', flags.kind)
  if (flags.actor) url.searchParams.set('actor', flags.actor)
  let response: Response
  try {
    const auth = flags.token ? { authorization: `Bearer ${flags.token}` } : undefined
    response = await fetch(url, { signal, headers: { accept: 'text/event-stream', ...auth } })
  } catch (error) {
    print(
      JSON.stringify({
        error: 'Unreachable',
        message: `cannot reach ${url.origin}: ${(error as Error).message}`,
      }),
    )
    return 1
  }
  if (!response.ok || !response.body) {
    print(
      JSON.stringify({ error: 'BadResponse', message: `${url.href} answered ${response.status}` }),
    )
    return 1
  }
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n')
        if (data) print(data)
      }
    }
  } catch (error) {
    if (signal?.aborted) return 0
    throw error
  }
  return 0
}
