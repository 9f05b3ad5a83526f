/**
 * Relays an upstream HTTP answer as our own: the named headers are copied, the body streams
 * through unchanged, and the bytes that went through are reported once, when the body has been
 * read, has failed, or the client went away (with the error then).
 */
export function relayResponse(
  upstream: Response & { body: ReadableStream<Uint8Array> },
  options: { headers: string[]; extra?: Record<string, string>; onBytes: (bytes: number, error?: unknown) => void },
): Response {
  const headers: Record<string, string> = { ...options.extra }
  for (const name of options.headers) {
    const value = upstream.headers.get(name)
    if (value) headers[name] = value
  }
  const reader = upstream.body.getReader()
  let moved = 0
  let reported = false
  const report = (error?: unknown) => {
    if (reported) return
    reported = true
    options.onBytes(moved, error)
  }
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read()
          if (done) {
            report()
            controller.close()
            return
          }
          moved += value.byteLength
          controller.enqueue(value)
        } catch (error) {
          report(error)
          controller.error(error)
        }
      },
      cancel(reason) {
        report(reason ?? new Error('the client went away'))
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  return new Response(body, { status: upstream.status, headers })
}
