/** The `rel="next"` target of an HTTP `Link` header, resolved against the request URL. */
export function nextLink(header: string | string[] | undefined, base: string): string | null {
  if (!header) return null
  const text = Array.isArray(header) ? header.join(', ') : header
  // <url>; rel="next"; title="x", <url2>; rel=prev
  const pattern = /<([^>]*)>\s*((?:;\s*[^;,]*)*)/g
  for (const match of text.matchAll(pattern)) {
    const params = match[2] ?? ''
    const rel = /;\s*rel\s*=\s*"?([^";,]*)"?/i.exec(params)?.[1]
    if (rel?.toLowerCase().split(/\s+/).includes('next')) {
      try {
        return new URL(match[1]!, base).toString()
      } catch {
        return null
      }
    }
  }
  return null
}
