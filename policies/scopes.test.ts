import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compilePolicyText } from './loader.ts'
import { defaultRegistry } from './registry.ts'
import { evaluate } from './evaluate.ts'
import { odrlFromModel } from './odrl-write.ts'
import { readPolicy } from './odrl-read.ts'
import { samePolicy } from './canonical.ts'
import { scopeTable, scopeTableMarkdown } from './scopes.ts'
import type { CompiledPolicy, EvaluationContext } from './types.ts'

const guide = readFileSync(new URL('../docs/data-steward-guide.md', import.meta.url), 'utf8')
const now = new Date('2026-06-01T00:00:00Z')
const context = (extra: Partial<EvaluationContext> = {}): EvaluationContext => ({
  scope: 'negotiation',
  action: 'use',
  assignee: 'did:web:lab.example',
  credentials: [],
  now,
  ...extra,
})
const underAgreement = { agreement: { signedAt: now }, usage: { count: 0 } }

async function compile(yaml: string): Promise<CompiledPolicy> {
  const { policy, errors } = await compilePolicyText(yaml, 'release.yaml')
  expect(errors).toEqual([])
  return policy!
}

const embargoed = (scopes = '') => `id: release
title: Released on 1 January 2027
${scopes}permissions:
  - action: use
    constraints:
      - { leftOperand: dateTime, operator: gteq, rightOperand: "2027-01-01T00:00:00Z" }
`

describe('the one table of where operands decide', () => {
  it('is the table the engine reads: every built-in operand takes its scopes from it', () => {
    const registry = defaultRegistry()
    for (const row of Object.values(scopeTable)) {
      for (const operand of row.operands) {
        if (operand.startsWith('an ')) continue
        const entry = registry.get(operand === 'credential.<Type>.<claim>' ? 'credential.MembershipCredential.memberOf' : operand)
        expect(entry?.scopes, operand).toEqual([...row.scopes])
      }
    }
  })

  it('is the table the steward guide shows (regenerate the guide between its markers when it changes)', () => {
    const shown = /<!-- scope-table:start -->\n([\s\S]*?)\n<!-- scope-table:end -->/.exec(guide)?.[1]
    expect(shown).toBe(scopeTableMarkdown())
  })
})

describe('a policy overrides where a constraint decides', () => {
  it('happy: by default an embargo does not block signing; with the date scoped to negotiation too, signing waits for the date', async () => {
    const plain = await compile(embargoed())
    expect(evaluate(plain, context()).allowed).toBe(true)

    const strict = await compile(embargoed('scopes:\n  dateTime: [catalog, negotiation, transfer, monitor]\n'))
    expect(strict.model.permissions[0]!.constraints[0]).toMatchObject({ scopes: ['catalog', 'negotiation', 'transfer', 'monitor'] })
    const refused = evaluate(strict, context())
    expect(refused.allowed).toBe(false)
    expect(refused.reason).toMatch(/2027-01-01/)
    expect(refused.reason).toContain('policy `release` (“Released on 1 January 2027”)')
    expect(evaluate(strict, context({ now: new Date('2027-01-02T00:00:00Z') })).allowed).toBe(true)
  })

  it("happy: a constraint's own scopes win over the policy's, and it is not checked elsewhere (an offer open until a date, agreements kept after)", async () => {
    const offered = await compile(`id: offered-until
title: Offered until the end of 2026
scopes:
  dateTime: [catalog, negotiation, transfer, monitor]
permissions:
  - action: use
    constraints:
      - { leftOperand: dateTime, operator: lt, rightOperand: "2027-01-01T00:00:00Z", scopes: [catalog, negotiation] }
`)
    const later = new Date('2027-06-01T00:00:00Z')
    expect(evaluate(offered, context({ now: later })).allowed).toBe(false)
    const access = evaluate(offered, context({ scope: 'transfer', now: later, ...underAgreement }))
    expect(access.allowed).toBe(true)
    expect(access.trace[0]).toMatchObject({ leftOperand: 'dateTime', outcome: 'deferred' })
    expect(access.trace[0]!.note).toBe('the policy decides this date and time condition at catalog and negotiation time only, not at transfer time')
  })

  it('fails closed: a constraint scoped to where its value is not known is unknown there, and refuses', async () => {
    const policy = await compile(`id: research-every-time
title: Research, asked at every access
permissions:
  - action: use
    constraints:
      - { leftOperand: purpose, operator: isA, rightOperand: research, scopes: [negotiation, transfer] }
`)
    expect(evaluate(policy, context({ purpose: 'climate-research' })).allowed).toBe(true)
    const access = evaluate(policy, context({ scope: 'transfer', ...underAgreement }))
    expect(access.allowed).toBe(false)
    expect(access.reason).toContain('the request does not say what the purpose is')
  })

  it('error: lint refuses an unknown scope name with the nearest one, an empty list, and an operand it does not know', async () => {
    const typo = await compilePolicyText(
      `id: t
title: T
permissions:
  - action: use
    constraints:
      - { leftOperand: dateTime, operator: lt, rightOperand: "2027-01-01T00:00:00Z", scopes: [negociation] }
`,
      't.yaml',
    )
    expect(typo.policy).toBeUndefined()
    expect(typo.errors).toEqual([
      expect.objectContaining({
        line: 6,
        message: '`negociation` is not a scope (the scopes are catalog, negotiation, transfer, monitor)',
        suggestion: 'did you mean `negotiation`?',
      }),
    ])
    const empty = await compilePolicyText(embargoed('scopes:\n  dateTime: []\n'), 'e.yaml')
    expect(empty.policy).toBeUndefined()
    expect(empty.errors.map((e) => e.message)).toEqual(['`scopes` must be a non-empty list of scopes'])
    const unknown = await compilePolicyText(embargoed('scopes:\n  datetime: [negotiation]\n'), 'u.yaml')
    expect(unknown.policy).toBeUndefined()
    expect(unknown.errors).toEqual([
      expect.objectContaining({ message: '`datetime` is not an operand this connector knows', suggestion: 'did you mean `dateTime`?' }),
    ])
  })
})

describe('overrides travel with the offer and the agreement', () => {
  it('round-trips through ODRL, and a policy without the override is not the same policy', async () => {
    const strict = await compile(embargoed('scopes:\n  dateTime: [negotiation, transfer]\n'))
    const odrl = odrlFromModel(strict.model, { type: 'Agreement', uid: 'urn:uuid:a', target: 'urn:d', assigner: 'did:web:p', assignee: 'did:web:c' })
    expect(JSON.stringify(odrl)).toContain('"https://w3id.org/passerelle/ns#scopes":["negotiation","transfer"]')
    const read = readPolicy(odrl)
    expect(read.errors ?? []).toEqual([])
    expect(read.model!.permissions[0]!.constraints[0]).toMatchObject({ scopes: ['negotiation', 'transfer'] })
    expect(evaluate(read.model!, context()).allowed).toBe(false)
    const plain = await compile(embargoed())
    expect(samePolicy(read.model!, plain.model, { ignore: ['uid', 'target', 'assigner', 'assignee', 'timestamp'] })).toBe(false)
  })

  it("attack: a peer's scopes that are not a list of scope names are refused with the reason, not ignored", () => {
    for (const bad of [['everywhere'], [], [{ '@id': 'negotiation' }], 'x'.repeat(5000)]) {
      const read = readPolicy({
        '@id': 'urn:uuid:p',
        '@type': 'Offer',
        permission: [
          {
            action: 'use',
            constraint: [{ leftOperand: 'odrl:dateTime', operator: 'lt', rightOperand: '2027-01-01', 'https://w3id.org/passerelle/ns#scopes': bad }],
          },
        ],
      })
      expect(read.model, JSON.stringify(bad).slice(0, 40)).toBeUndefined()
      expect((read.errors ?? []).join('\n')).toMatch(/scopes: expected a list of scopes \(catalog, negotiation, transfer, monitor\)/)
    }
  })
})
