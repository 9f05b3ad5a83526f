import type { Context, Hono } from 'hono'
import type { z } from 'zod'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { describeZodError, readJson, readJsonAnyType } from '../http/validate.ts'
import { CatalogRequestMessage } from './catalog-messages.ts'
import { deferredRefusal } from './edge-2024-1.ts'
import { canonicalMessage } from './json-ld.ts'
import {
  ContractAgreementMessage,
  ContractAgreementVerificationMessage,
  ContractNegotiationEventMessage,
  ContractNegotiationTerminationMessage,
  ContractOfferMessage,
  ContractRequestMessage,
} from './negotiation-messages.ts'
import {
  TransferCompletionMessage,
  TransferRequestMessage,
  TransferStartMessage,
  TransferSuspensionMessage,
  TransferTerminationMessage,
} from './transfer-messages.ts'

/**
 * Every DSP 2025-1 endpoint this connector serves, in one table: path under the DSP base, the
 * message it reads, who receives it, what it does to the process, and where its handler is. The
 * transition tables themselves are `negotiation/state-machine.ts` and `transfer/state-machine.ts`;
 * error bodies are mapped in `dsp/errors.ts`.
 *
 * | endpoint | message | receiver | transition | handler |
 * |---|---|---|---|---|
 * | POST /catalog/request | CatalogRequestMessage | provider | none: answers a Catalog page | catalog/routes.ts |
 * | GET /catalog/datasets/:id | — | provider | none: answers a Dataset | catalog/routes.ts |
 * | GET /negotiations/:pid | — | both | none: answers the ContractNegotiation | negotiation/dsp-routes.ts |
 * | POST /negotiations/request | ContractRequestMessage | provider | new process, REQUESTED (201) | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/request | ContractRequestMessage | provider | OFFERED → REQUESTED | negotiation/dsp-routes.ts |
 * | POST /negotiations/offers | ContractOfferMessage | consumer | new process, OFFERED (201) | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/offers | ContractOfferMessage | consumer | REQUESTED → OFFERED | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/events | ContractNegotiationEventMessage | both | ACCEPTED: OFFERED → ACCEPTED (provider); FINALIZED: VERIFIED → FINALIZED (consumer) | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/agreement | ContractAgreementMessage | consumer | REQUESTED or ACCEPTED → AGREED | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/agreement/verification | ContractAgreementVerificationMessage | provider | AGREED → VERIFIED | negotiation/dsp-routes.ts |
 * | POST /negotiations/:pid/termination | ContractNegotiationTerminationMessage | both | any open state → TERMINATED | negotiation/dsp-routes.ts |
 * | GET /transfers/:pid | — | both | none: answers the TransferProcess | transfer/dsp-routes.ts |
 * | POST /transfers/request | TransferRequestMessage | provider | new process, REQUESTED (201) | transfer/dsp-routes.ts |
 * | POST /transfers/:pid/start | TransferStartMessage | both | REQUESTED or SUSPENDED → STARTED | transfer/dsp-routes.ts |
 * | POST /transfers/:pid/completion | TransferCompletionMessage | both | STARTED → COMPLETED | transfer/dsp-routes.ts |
 * | POST /transfers/:pid/suspension | TransferSuspensionMessage | both | STARTED → SUSPENDED | transfer/dsp-routes.ts |
 * | POST /transfers/:pid/termination | TransferTerminationMessage | both | → TERMINATED | transfer/dsp-routes.ts |
 *
 * `/.well-known/dspace-version` (plain JSON, no message) is served by `http/version.ts`.
 */
export interface DspEndpoint<S extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST'
  /** Under the DSP base, in Hono's path syntax. */
  path: string
  /** The message a POST reads (in its canonical form, see `json-ld.ts`). */
  message?: S
  receiver: 'provider' | 'consumer' | 'both'
  /** Bodies of any declared media type are read (some peers send transfer messages without one); otherwise JSON only (415). */
  anyMediaType?: boolean
  /** A lower body limit than the server's (413 beyond it). */
  maxBytes?: number
}

/** Transfer messages are small JSON objects; their endpoints have always read at most this much. */
const transferMessageBytes = 256 * 1024

const endpoint = <S extends z.ZodType>(e: DspEndpoint<S>) => e

export const dspEndpoints = {
  catalogRequest: endpoint({ method: 'POST', path: '/catalog/request', message: CatalogRequestMessage, receiver: 'provider' }),
  dataset: endpoint({ method: 'GET', path: '/catalog/datasets/:id', receiver: 'provider' }),
  negotiation: endpoint({ method: 'GET', path: '/negotiations/:pid', receiver: 'both' }),
  contractRequest: endpoint({ method: 'POST', path: '/negotiations/request', message: ContractRequestMessage, receiver: 'provider' }),
  counterRequest: endpoint({ method: 'POST', path: '/negotiations/:pid/request', message: ContractRequestMessage, receiver: 'provider' }),
  contractOffer: endpoint({ method: 'POST', path: '/negotiations/offers', message: ContractOfferMessage, receiver: 'consumer' }),
  counterOffer: endpoint({ method: 'POST', path: '/negotiations/:pid/offers', message: ContractOfferMessage, receiver: 'consumer' }),
  negotiationEvent: endpoint({ method: 'POST', path: '/negotiations/:pid/events', message: ContractNegotiationEventMessage, receiver: 'both' }),
  agreement: endpoint({ method: 'POST', path: '/negotiations/:pid/agreement', message: ContractAgreementMessage, receiver: 'consumer' }),
  verification: endpoint({
    method: 'POST',
    path: '/negotiations/:pid/agreement/verification',
    message: ContractAgreementVerificationMessage,
    receiver: 'provider',
  }),
  negotiationTermination: endpoint({
    method: 'POST',
    path: '/negotiations/:pid/termination',
    message: ContractNegotiationTerminationMessage,
    receiver: 'both',
  }),
  transfer: endpoint({ method: 'GET', path: '/transfers/:pid', receiver: 'both' }),
  transferRequest: endpoint({
    method: 'POST',
    path: '/transfers/request',
    message: TransferRequestMessage,
    receiver: 'provider',
    anyMediaType: true,
    maxBytes: transferMessageBytes,
  }),
  transferStart: endpoint({
    method: 'POST',
    path: '/transfers/:pid/start',
    message: TransferStartMessage,
    receiver: 'both',
    anyMediaType: true,
    maxBytes: transferMessageBytes,
  }),
  transferCompletion: endpoint({
    method: 'POST',
    path: '/transfers/:pid/completion',
    message: TransferCompletionMessage,
    receiver: 'both',
    anyMediaType: true,
    maxBytes: transferMessageBytes,
  }),
  transferSuspension: endpoint({
    method: 'POST',
    path: '/transfers/:pid/suspension',
    message: TransferSuspensionMessage,
    receiver: 'both',
    anyMediaType: true,
    maxBytes: transferMessageBytes,
  }),
  transferTermination: endpoint({
    method: 'POST',
    path: '/transfers/:pid/termination',
    message: TransferTerminationMessage,
    receiver: 'both',
    anyMediaType: true,
    maxBytes: transferMessageBytes,
  }),
}

/**
 * Reads the endpoint's message: the body as bounded JSON, brought to its canonical form, validated
 * by the endpoint's schema. A refusal is a `bad_request` naming the field, with the pids the body
 * gave (a DSP error carries them).
 */
export async function readDspMessage<S extends z.ZodType>(c: Context, e: DspEndpoint<S> & { message: S }): Promise<z.infer<S>> {
  const refused = deferredRefusal(c)
  if (refused) throw refused
  const server = c.get('bodyLimit' as never) as number | undefined
  const limit = e.maxBytes !== undefined && (server === undefined || e.maxBytes < server) ? e.maxBytes : server
  const raw = e.anyMediaType ? await readJsonAnyType(c, limit) : await readJson(c, limit === undefined ? {} : { limit })
  const canonical = await canonicalMessage(raw).catch((error: unknown) => {
    throw error instanceof PasserelleError ? new PasserelleError(error.code, error.message, { ...error.details, ...pidsIn(raw) }) : error
  })
  const parsed = e.message.safeParse(canonical)
  if (parsed.success) return parsed.data
  throw new PasserelleError('bad_request', describeZodError(parsed.error, 'body'), {
    ...pidsIn(canonical),
    issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  })
}

function pidsIn(raw: unknown): { providerPid?: string; consumerPid?: string } {
  const r = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>
  return {
    ...(typeof r.providerPid === 'string' ? { providerPid: r.providerPid.slice(0, 512) } : {}),
    ...(typeof r.consumerPid === 'string' ? { consumerPid: r.consumerPid.slice(0, 512) } : {}),
  }
}

/**
 * Declares an endpoint of the table on a sub-app mounted at `mount` under the DSP base. The handler
 * reads the message when it is ready to (after authentication, so a stranger learns nothing from
 * how its body is refused).
 */
export function serveDsp<S extends z.ZodType>(
  app: Hono<AppEnv>,
  mount: string,
  e: DspEndpoint<S>,
  handler: (c: Context<AppEnv>, read: () => Promise<z.infer<S>>) => Response | Promise<Response>,
): void {
  if (!e.path.startsWith(mount)) throw new Error(`${e.path} is not under ${mount}`)
  const path = e.path.slice(mount.length) || '/'
  const read = (c: Context) => {
    if (!e.message) throw new Error(`${e.method} ${e.path} reads no message`)
    return readDspMessage(c, e as DspEndpoint<S> & { message: S })
  }
  app.on(e.method, path, (c) => handler(c, () => read(c)))
}
