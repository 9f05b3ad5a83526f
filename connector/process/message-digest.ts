import { createHash } from 'node:crypto'

/**
 * What makes two inbound messages "the same message": their kind (recorded next to the digest) and
 * this digest of their canonical content: the parsed JSON with object keys sorted at every depth,
 * so a peer that re-sends a message (its outbox retrying after a lost answer or a crash) is
 * recognised whatever order its serializer wrote the keys in, while any change of a value (another
 * agreement, other terms, another reason) makes it a different message. Returns undefined when the
 * value cannot be written out again (nesting too deep): callers refuse such a message.
 */
export function messageDigest(message: unknown): string | undefined {
  let text: string
  try {
    text = JSON.stringify(message, (_key, value: unknown) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
      const sorted: Record<string, unknown> = {}
      for (const key of Object.keys(value as Record<string, unknown>).sort()) sorted[key] = (value as Record<string, unknown>)[key]
      return sorted
    })
  } catch {
    return undefined
  }
  return createHash('sha256').update(text).digest('base64url').slice(0, 22)
}
