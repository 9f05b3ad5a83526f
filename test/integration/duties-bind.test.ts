import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { management } from '../support/processes.ts'

/**
 * Duties bind, end to end: two connector processes with DCP identity negotiate a policy with an
 * attribution duty. The consumer's verification acknowledges the duty on both sides; data flows;
 * once the provider's operator marks the duty violated, the running transfer ends, the next access
 * and a new transfer are refused, each naming the duty and the policy file.
 */
const creditTheSource = {
  id: 'credit-the-source',
  yaml: ['id: credit-the-source', 'title: Use with attribution', 'permissions:', '  - action: use', '    duties:', '      - action: attribute', ''].join('\n'),
}

let pair: DcpPair
beforeAll(async () => {
  pair = await startDcpPair({ policy: creditTheSource })
}, 60_000)
afterAll(async () => {
  await pair?.stop()
})

const download = async (transferId: string) => {
  const response = await fetch(`${pair.consumer.url}/management/v1/transfers/${transferId}/data`, {
    headers: { authorization: `Bearer ${pair.consumer.managementKey}` },
  })
  return { status: response.status, body: await response.text() }
}
const obligationsOn = async (side: 'provider' | 'consumer', agreementId: string) =>
  (await management(pair[side], 'GET', `/agreements/${agreementId}/obligations`)).body

describe('a permission with an attribution duty', () => {
  it("is acknowledged by the consumer's verification, permits transfers, and stops permitting once the duty is marked violated", async () => {
    const agreementId = await pair.negotiate()

    // Both parties signed the same document: the consumer's signature, sent with its verification,
    // is checked against its DID document and kept in the provider's trail beside the provider's own.
    const history = async (side: 'provider' | 'consumer') =>
      (await management(pair[side], 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit`)).body.items as Array<{ kind: string; payload: any }>
    const [providerTrail, consumerTrail] = [await history('provider'), await history('consumer')]
    const own = providerTrail.find((r) => r.kind === 'agreement')!.payload
    const theirs = consumerTrail.find((r) => r.kind === 'agreement')!.payload
    const countersigned = providerTrail.find((r) => r.kind === 'agreement.countersigned')
    expect(countersigned?.payload).toMatchObject({ verified: true, sha256: own.sha256, signature: theirs.signature })
    expect(theirs.sha256).toBe(own.sha256)
    expect(theirs.signature).not.toBe(own.signature)

    // Both sides list the duty under the agreement, acknowledged by the verification.
    for (const side of ['provider', 'consumer'] as const) {
      const listed = await obligationsOn(side, agreementId)
      expect(
        listed.items.map((o: any) => [o.id, o.action, o.status]),
        side,
      ).toEqual([['permission-1-duty-1', 'attribute', 'acknowledged']])
      // Recorded on first look, after the verification: acknowledged from the start, by the consumer.
      expect(
        listed.timeline.map((e: any) => [e.fromStatus, e.toStatus]),
        side,
      ).toEqual([[null, 'acknowledged']])
      expect(listed.timeline.at(-1).reason, side).toContain("acknowledged by the consumer's agreement verification")
    }
    const providerView = await obligationsOn('provider', agreementId)
    expect(providerView.policy).toBe('credit-the-source')
    expect(providerView.timeline.at(-1).actor).toBe(pair.consumer.did)

    const first = await pair.requestPull(agreementId)
    expect(first.state).toBe('STARTED')
    expect((await download(first.id)).status).toBe(200)

    const marked = await management(pair.provider, 'POST', `/agreements/${agreementId}/obligations/permission-1-duty-1`, {
      status: 'violated',
      reason: 'the published report does not credit the source',
    })
    expect(marked.status).toBe(200)
    expect(marked.body).toMatchObject({ status: 'violated' })

    // The next access is refused, naming the duty and the policy.
    const refused = await download(first.id)
    expect(refused.status).toBeGreaterThanOrEqual(400)
    expect(refused.status).toBeLessThan(500)
    expect(refused.body).toContain('permission-1-duty-1')
    expect(refused.body).toContain('`credit-the-source`')

    // A new transfer is refused at its request, with the engine's reason.
    const second = await pair.requestPull(agreementId)
    expect(second.state).toBe('TERMINATED')
    expect(second.reason).toContain('`credit-the-source`')
    expect(second.reason).toContain('`attribute`')
    expect(second.reason).toContain('was violated')

    // The provider's timeline of the duty keeps the operator's reason.
    const after = await obligationsOn('provider', agreementId)
    expect(after.items[0]).toMatchObject({ status: 'violated', reason: 'the published report does not credit the source' })
    expect(after.timeline.at(-1)).toMatchObject({ fromStatus: 'acknowledged', toStatus: 'violated', actor: 'management' })
  }, 120_000)
})
