/**
 * The closed vocabulary of errors. Domain code throws `PasserelleError` with one of these codes;
 * `http/error-response.ts` is the one place that turns a code into an HTTP status and a body.
 */
export const errorStatus = {
  bad_request: 400,
  invalid_state: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** Too many requests at once (e.g. on one data token): answered with `Retry-After`. */
  too_many_requests: 429,
  policy_refused: 403,
  peer_failed: 502,
  unavailable: 503,
  not_implemented: 501,
  internal: 500,
} as const

export type ErrorCode = keyof typeof errorStatus

export class PasserelleError extends Error {
  readonly code: ErrorCode
  /** Structured detail a client can act on (e.g. the failing field, a policy trace). */
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'PasserelleError'
    this.code = code
    this.details = details
  }
}

export const isPasserelleError = (error: unknown): error is PasserelleError => error instanceof PasserelleError
