import { dutyHowTo } from '../../policies/index.ts'
import type { CliIo } from '../cli/io.ts'
import type { ManagementClient } from '../cli/management-client.ts'

/**
 * What an agreement binds its consumer to, as `passerelle negotiate` and `passerelle transfer`
 * print it: each duty in plain language, how to fulfil it, and who checks it. Read from the
 * connector's own obligation records (`GET /agreements/{id}/obligations`).
 */
export interface AgreementObligations {
  agreementId: string
  policy: string
  policyTitle?: string
  items: Array<{
    id: string
    action: string
    rule: string
    text: string
    checkedBy: 'monitor' | 'operator'
    status: string
    /** How to fulfil it (added here, from the policy engine's phrases). */
    howTo: string
  }>
}

export async function agreementObligations(client: ManagementClient, agreementId: string): Promise<AgreementObligations> {
  const answer = await client.get<Omit<AgreementObligations, 'items'> & { items: Array<Omit<AgreementObligations['items'][number], 'howTo'>> }>(
    `/agreements/${encodeURIComponent(agreementId)}/obligations`,
  )
  return {
    agreementId: answer.agreementId,
    policy: answer.policy,
    ...(answer.policyTitle ? { policyTitle: answer.policyTitle } : {}),
    items: answer.items.map((item) => ({ ...item, howTo: dutyHowTo(item.action) })),
  }
}

export function printObligations(obligations: AgreementObligations, io: CliIo) {
  const policy = `\`${obligations.policy}\`${obligations.policyTitle ? ` (“${obligations.policyTitle}”)` : ''}`
  if (obligations.items.length === 0) {
    io.stdout(`obligations: none (policy ${policy} binds you to no duty)`)
    return
  }
  const lines = [`obligations under policy ${policy}: you must`]
  for (const o of obligations.items) {
    lines.push(`  - ${o.text} [${o.id}, ${o.status}]`)
    lines.push(`    how: ${o.howTo}`)
    lines.push(
      o.checkedBy === 'monitor'
        ? "    checked by the provider's connector: once it is not met, transfers under this agreement are refused"
        : `    checked by the provider's people; record what you did: POST /management/v1/agreements/${obligations.agreementId}/obligations/${o.id} {"status":"fulfilled"}`,
    )
  }
  io.stdout(lines.join('\n'))
}
