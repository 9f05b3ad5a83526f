/**
 * Relays an upstream HTTP answer as our own: the named headers are copied, the body streams
 * through unchanged, and the bytes that went through are reported once it has been read.
 */
export function relayResponse(
  upstream: Response & { body: ReadableStream<Uint8Array> },
  options: { headers: string[]; extra?: Record<string, string>; onBytes: (bytes: number) => void },
): Response {
  const headers: Record<string, string> = { ...options.extra }
  for (const name of options.headers) {
    const value = upstream.headers.get(name)
    if (value) headers[name] = value
  }
  let moved = 0
  const counted = upstream.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        moved += chunk.byteLength
        controller.enqueue(chunk)
      },
      flush() {
        options.onBytes(moved)
      },
    }),
  )
  return new Response(counted, { status: upstream.status, headers })
}
