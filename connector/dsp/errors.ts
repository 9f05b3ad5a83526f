import type { Context } from 'hono'
import { dsp2024Path, dspPath } from '../config/config.ts'
import { PasserelleError } from '../errors.ts'
import type { ErrorRenderers } from '../http/error-response.ts'
import { dspContext } from './context.ts'
import { to2024 } from './dsp-2024-1.ts'

/**
 * The one mapping of errors to DSP error messages. Statuses come from the error vocabulary
 * (`errors.ts`): 400 for an invalid message or one invalid in the process's state, 401 for a failed
 * authentication where a process is being opened, 404 for an unknown process or another
 * participant's, 409 for an identifier already in use, 500 (no detail) for anything unexpected,
 * which the app's handler also logs.
 */

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

const areaPrefixes: Record<DspErrorType, string> = {
  CatalogError: '/catalog',
  ContractNegotiationError: '/negotiations',
  TransferError: '/transfers',
}

/** Errors under an area's DSP paths are answered as that area's DSP error message, in the version of the path. */
export function registerDspErrors(errors: ErrorRenderers, type: DspErrorType): void {
  const conceal = type === 'CatalogError' ? undefined : concealProcessesFromStrangers
  errors.register(`${dspPath}${areaPrefixes[type]}`, dspErrorRenderer(type), conceal)
  const render = dspErrorRenderer(type)
  errors.register(`${dsp2024Path}${areaPrefixes[type]}`, (error) => to2024(render(error)), conceal)
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
