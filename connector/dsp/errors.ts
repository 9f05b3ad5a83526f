import type { Context } from 'hono'
import { errorStatus, PasserelleError } from '../errors.ts'
import { toPasserelleError } from '../http/error-response.ts'
import { dspContext } from './context.ts'

/** The DSP error body types, one per protocol area. */
export type DspErrorType = 'ContractNegotiationError' | 'TransferError' | 'CatalogError'

export interface DspErrorInput {
  providerPid?: string | undefined
  consumerPid?: string | undefined
  code?: string | undefined
  reason?: string | undefined
}

/**
 * A DSP error body. The negotiation and transfer schemas require both pids, so an unknown one is
 * sent as an empty string rather than left out.
 */
export function dspErrorBody(type: DspErrorType, input: DspErrorInput) {
  return {
    '@context': dspContext,
    '@type': type,
    ...(type === 'CatalogError' ? {} : { providerPid: input.providerPid ?? '', consumerPid: input.consumerPid ?? '' }),
    ...(input.code ? { code: input.code } : {}),
    ...(input.reason ? { reason: [input.reason] } : {}),
  }
}

/** Renders a PasserelleError as a DSP error body; the pids come from `details`. */
export const dspErrorRenderer = (type: DspErrorType) => (error: PasserelleError) =>
  dspErrorBody(type, {
    providerPid: stringDetail(error, 'providerPid'),
    consumerPid: stringDetail(error, 'consumerPid'),
    code: error.code,
    reason: error.message,
  })

/** A Hono `onError` handler answering DSP errors (status from the error vocabulary, never a stack). */
export const dspErrorHandler = (type: DspErrorType) => (error: unknown, c: Context) => {
  const known = toPasserelleError(error)
  return c.json(dspErrorRenderer(type)(known), errorStatus[known.code])
}

const stringDetail = (error: PasserelleError, key: string) => {
  const value = error.details?.[key]
  return typeof value === 'string' ? value : undefined
}

/**
 * On the endpoints of an existing process (`…/negotiations/:pid…`, `…/transfers/:pid…`), a request
 * that fails authentication is answered as an unknown process (404), so that process ids cannot be
 * probed; the log keeps which check failed. Creating a process (`/request`, `/offers`) still
 * answers 401.
 */
export const concealProcessesFromStrangers = (error: PasserelleError, c: Context): PasserelleError =>
  error.code === 'unauthorized' && !/\/(negotiations|transfers)\/(request|offers)\/?$/.test(c.req.path)
    ? new PasserelleError('not_found', 'no such process')
    : error
