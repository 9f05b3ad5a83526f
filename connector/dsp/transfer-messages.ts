import { z } from 'zod'
import { dspContext, DspContext as Context, Pid } from './context.ts'
import { dspErrorBody } from './errors.ts'

/**
 * DSP 2025-1 transfer messages, derived from the published schemas in spec/dsp-2025-1/transfer/,
 * read in their canonical compact form (see `json-ld.ts`: other JSON-LD spellings are brought to it
 * first). Our strictness beyond the schemas: bounded lengths, http(s) callback addresses.
 */

/** Reasons are free JSON in the schema; we keep them short and readable. */
const Reason = z.array(z.unknown()).min(1).max(32)

export const EndpointProperty = z.object({
  '@type': z.literal('EndpointProperty'),
  name: z.string().min(1).max(256),
  value: z.string().max(16_384),
})
export type EndpointProperty = z.infer<typeof EndpointProperty>

export const DataAddress = z.object({
  '@type': z.literal('DataAddress'),
  endpointType: z.string().min(1).max(512),
  endpoint: z.string().max(4096).optional(),
  endpointProperties: z.array(EndpointProperty).min(1).max(64).optional(),
})
export type DataAddress = z.infer<typeof DataAddress>

export const TransferRequestMessage = z.object({
  '@context': Context,
  '@type': z.literal('TransferRequestMessage'),
  consumerPid: Pid,
  agreementId: z.string().min(1).max(512),
  format: z.string().min(1).max(256),
  /** Where the provider sends its messages: an http(s) URL (never another scheme). */
  callbackAddress: z
    .string()
    .min(1)
    .max(2048)
    .refine((value) => /^https?:\/\/[^\s/]+/i.test(value) && URL.canParse(value), { message: 'callbackAddress must be an http(s) URL' }),
  dataAddress: DataAddress.optional(),
})
export type TransferRequestMessage = z.infer<typeof TransferRequestMessage>

export const TransferStartMessage = z.object({
  '@context': Context,
  '@type': z.literal('TransferStartMessage'),
  providerPid: Pid,
  consumerPid: Pid,
  dataAddress: DataAddress.optional(),
})
export type TransferStartMessage = z.infer<typeof TransferStartMessage>

export const TransferCompletionMessage = z.object({
  '@context': Context,
  '@type': z.literal('TransferCompletionMessage'),
  providerPid: Pid,
  consumerPid: Pid,
})
export type TransferCompletionMessage = z.infer<typeof TransferCompletionMessage>

const codeMessage = <T extends string>(type: T) =>
  z.object({
    '@context': Context,
    '@type': z.literal(type),
    providerPid: Pid,
    consumerPid: Pid,
    code: z.string().max(256).optional(),
    reason: Reason.optional(),
  })

export const TransferSuspensionMessage = codeMessage('TransferSuspensionMessage')
export type TransferSuspensionMessage = z.infer<typeof TransferSuspensionMessage>
export const TransferTerminationMessage = codeMessage('TransferTerminationMessage')
export type TransferTerminationMessage = z.infer<typeof TransferTerminationMessage>
export const TransferError = codeMessage('TransferError')
export type TransferError = z.infer<typeof TransferError>

export const transferStates = ['REQUESTED', 'STARTED', 'SUSPENDED', 'COMPLETED', 'TERMINATED'] as const
export const TransferState = z.enum(transferStates)
export type TransferState = z.infer<typeof TransferState>

export const TransferProcess = z.object({
  '@context': Context,
  '@type': z.literal('TransferProcess'),
  providerPid: Pid,
  consumerPid: Pid,
  state: TransferState,
})
export type TransferProcess = z.infer<typeof TransferProcess>

/** Messages that move an existing process (everything but the request). */
export const processMessages = {
  TransferStartMessage,
  TransferCompletionMessage,
  TransferSuspensionMessage,
  TransferTerminationMessage,
} as const
export type ProcessMessageType = keyof typeof processMessages
export type TransferMessageType = ProcessMessageType | 'TransferRequestMessage'

export function transferProcessBody(p: { providerPid: string; consumerPid: string; state: TransferState }): TransferProcess {
  return { '@context': [...dspContext], '@type': 'TransferProcess', providerPid: p.providerPid, consumerPid: p.consumerPid, state: p.state }
}

export function transferErrorBody(p: { providerPid: string; consumerPid: string; code: string; reason: string }): TransferError {
  return dspErrorBody('TransferError', p) as TransferError
}
