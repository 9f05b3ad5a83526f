import type { Context } from 'hono'
import { errorStatus, isPasserelleError, PasserelleError } from '../errors.ts'
import { isDatabaseUnavailable } from '../store/availability.ts'

/**
 * The one place where an error becomes an HTTP answer. Areas with a protocol-specific error body
 * (DSP CatalogError, ContractNegotiationError, TransferError) register a renderer for their path
 * prefix; everything else gets the management API's plain JSON error.
 */
export type ErrorBodyRenderer = (error: PasserelleError, c: Context) => unknown

/** Replaces an error before it is answered (the log keeps the original). */
export type ErrorConcealer = (error: PasserelleError, c: Context) => PasserelleError

export interface ErrorRenderers {
  /** Longest matching prefix wins. */
  register(pathPrefix: string, render: ErrorBodyRenderer, conceal?: ErrorConcealer): void
  render(error: unknown, c: Context): Response
}

export function createErrorRenderers(): ErrorRenderers {
  const renderers: Array<{ prefix: string; render: ErrorBodyRenderer; conceal?: ErrorConcealer | undefined }> = []
  return {
    register(prefix, render, conceal) {
      renderers.push({ prefix, render, conceal })
      renderers.sort((a, b) => b.prefix.length - a.prefix.length)
    },
    render(error, c) {
      const renderer = renderers.find((r) => c.req.path.startsWith(r.prefix))
      const original = toPasserelleError(error)
      const known = renderer?.conceal ? renderer.conceal(original, c) : original
      const status = errorStatus[known.code]
      if (known.code === 'too_many_requests' || known.code === 'unavailable') c.header('retry-after', String(known.details?.retryAfterSeconds ?? 1))
      const body = renderer ? renderer.render(known, c) : plainErrorBody(known, c)
      return c.json(body as object, status)
    },
  }
}

/** The management API's error body: `{ error: { code, message, details?, requestId } }`. */
export const plainErrorBody = (error: PasserelleError, c: Context) => ({
  error: {
    code: error.code,
    message: error.message,
    ...(error.details ? { details: error.details } : {}),
    requestId: c.get('requestId' as never),
  },
})

export function toPasserelleError(error: unknown): PasserelleError {
  if (isPasserelleError(error)) return error
  // Hono's own HTTP exceptions (e.g. from middleware) keep their status where we have a code for it.
  const status = (error as { status?: number } | null)?.status
  if (status === 413) return new PasserelleError('payload_too_large', 'the request body is too large')
  if (status === 401) return new PasserelleError('unauthorized', 'authentication required')
  if (status === 400) return new PasserelleError('bad_request', (error as Error).message || 'bad request')
  // Nothing was stored (the transaction did not commit): the caller may simply try again.
  if (isDatabaseUnavailable(error)) return databaseUnavailable()
  // A unique index refused a row: an id the request carries (an agreement @id, a process id) is
  // already taken. The transaction rolled back, so nothing changed; the request is at fault.
  if (isUniqueViolation(error))
    return new PasserelleError(
      'conflict',
      'an identifier this request carries is already in use (by another process, agreement or participant); nothing was changed',
    )
  return new PasserelleError('internal', 'internal error: the connector could not complete this request')
}

export const databaseUnavailable = () =>
  new PasserelleError('unavailable', 'the connector cannot reach its database right now; nothing was changed, try again shortly', { retryAfterSeconds: 1 })

/** SQLite's and PostgreSQL's unique-constraint errors, wherever the driver or drizzle wrapped them. */
function isUniqueViolation(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') return true
  }
  return false
}
