import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import { z } from 'zod'
import { PasserelleError } from '../errors.ts'
import { readJsonAnyType } from '../http/validate.ts'
import { fromRoot } from '../paths.ts'
import type { Agreement, AgreementLookup, TransferScripts, TransferStep } from './ports.ts'
import { requestTransfer, type TransferCtx } from './service.ts'
import { transferProcessBody } from './messages.ts'

/** The TCK profile's transfer part: scripted reactions and seeded agreements (seeds/tck/transfer). */
const Step = z.enum(['start', 'complete', 'suspend', 'terminate'])
const ScriptsFile = z.object({
  provider: z.record(z.string(), z.array(Step)),
  consumer: z.record(z.string(), z.object({ onRequested: z.array(Step).optional(), onStarted: z.array(Step).optional() })),
})
const AgreementsFile = z.object({
  /** The participant id the TCK authenticates as (its static token's). */
  tck: z.string().min(1).optional(),
  agreements: z.array(z.object({ id: z.string(), state: z.string(), assigner: z.string(), assignee: z.string(), target: z.string(), signedAt: z.string() })),
})

const seedDir = () => fromRoot('seeds/tck/transfer')

export function tckTransferScripts(file = `${seedDir()}/scripts.json`): TransferScripts {
  const scripts = ScriptsFile.parse(JSON.parse(readFileSync(file, 'utf8')))
  return {
    provider: (id) => scripts.provider[id] as TransferStep[] | undefined,
    consumer: (id) => scripts.consumer[id],
  }
}

/** The participant id the TCK authenticates as, from the agreements file. */
export function tckParticipantId(file = `${seedDir()}/agreements.json`): string {
  return AgreementsFile.parse(JSON.parse(readFileSync(file, 'utf8'))).tck ?? 'urn:connector:tck'
}

/** The TCK's agreements; `@self` and `@tck` become our participant id and the TCK's. */
export function tckTransferAgreements(ids: { self: string; tck: string }, file = `${seedDir()}/agreements.json`): Agreement[] {
  const who = (v: string) => (v === '@self' ? ids.self : v === '@tck' ? ids.tck : v)
  return AgreementsFile.parse(JSON.parse(readFileSync(file, 'utf8'))).agreements.map((a) => ({
    id: a.id,
    state: a.state,
    assigner: who(a.assigner),
    assignee: who(a.assignee),
    target: a.target,
    signedAt: new Date(a.signedAt),
    policy: {
      '@id': a.id,
      '@type': 'Agreement',
      target: a.target,
      assigner: who(a.assigner),
      assignee: who(a.assignee),
      timestamp: a.signedAt,
      permission: [{ action: 'use' }],
    },
  }))
}

/** Agreements from the TCK seed first, then the connector's own. */
export function withTckAgreements(seeded: Agreement[], fallback?: AgreementLookup): AgreementLookup {
  const byId = new Map(seeded.map((a) => [a.id, a]))
  return { find: async (id, db) => byId.get(id) ?? fallback?.find(id, db) }
}

const TriggerBody = z.object({
  providerId: z.string().min(1).max(512),
  agreementId: z.string().min(1).max(512),
  format: z.string().min(1).max(256),
  connectorAddress: z.url({ protocol: /^https?$/ }),
})

/**
 * `POST /tck/transfers`: the TCK asks us, as consumer, to request a transfer from it. Plain JSON.
 * The TCK names itself `TCK_PARTICIPANT` in `providerId` but its callbacks authenticate with its
 * static token: give that token's participant id as `peerId` to bind the process to it.
 */
export function tckTransferTrigger(deps: { ctx: TransferCtx; peerId?: string }) {
  // Errors go through the app's one handler (plain JSON: this is no DSP endpoint).
  const app = new Hono()
  app.post('/tck/transfers', async (c) => {
    const raw = await readJsonAnyType(c)
    const parsed = TriggerBody.safeParse(raw)
    if (!parsed.success) throw new PasserelleError('bad_request', `invalid trigger: ${parsed.error.issues[0]?.message}`)
    const input = parsed.data
    const transfer = await requestTransfer({
      ctx: deps.ctx,
      input: { agreementId: input.agreementId, providerId: deps.peerId ?? input.providerId, providerAddress: input.connectorAddress, format: input.format },
    })
    return c.json(transferProcessBody({ providerPid: transfer.providerPid ?? '', consumerPid: transfer.consumerPid, state: transfer.state }), 200)
  })
  return app
}
