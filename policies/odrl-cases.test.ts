import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { evaluate, readPolicy } from './index.ts'
import { contextFromData } from './context-file.ts'
import { runPolicyCommand } from './cli.ts'

/**
 * Independent ODRL cases: a policy as a peer or a steward writes it (DSP-style compact JSON), a
 * request, and the expected verdict: allow, deny, or invalid (the engine refuses the policy
 * itself). Each runs through the engine (readPolicy + evaluate) and through the CLI
 * (`policy eval FILE.json --as CONTEXT.yaml`: exit 0 allow, 1 deny, 2 with lint errors invalid).
 */
interface Case {
  name: string
  policy: Record<string, unknown>
  context?: Record<string, unknown>
  expect: 'allow' | 'deny' | 'invalid'
  /** A part of the reason (allow/deny) or of the first problem (invalid). */
  reason?: string
}

const P = (rules: Record<string, unknown>, id = 'urn:uuid:case') => ({ '@id': id, '@type': 'Offer', ...rules })
const use = (constraint: unknown[] = [], extra: Record<string, unknown> = {}) => ({ action: 'use', constraint, ...extra })
const c = (leftOperand: string, operator: string, rightOperand: unknown) => ({ leftOperand, operator, rightOperand })
const at = (iso: string) => ({ now: iso })
/** A request exercising the permission under an agreement, with what is recorded of its duties. */
const exercised = (duties?: Record<string, string>) => ({ scope: 'transfer', ...(duties ? { duties } : {}) })

const cases: Case[] = [
  // compact policies
  {
    name: "compact: the policy-level action is the rule's, so `use` does not permit `sell`",
    policy: P({ action: 'use', permission: [{}] }),
    context: { action: 'sell' },
    expect: 'deny',
    reason: 'given by the policy for all its rules',
  },
  {
    name: 'compact: the policy-level action permits what it includes',
    policy: P({ action: 'use', permission: [{ constraint: [c('purpose', 'isA', 'research')] }] }),
    context: { action: 'read', purpose: 'climate-research' },
    expect: 'allow',
  },
  {
    name: 'compact: the policy-level assignee binds every rule',
    policy: P({ assignee: 'did:web:lab.example', permission: [use()] }),
    context: { assignee: 'did:web:other.example' },
    expect: 'deny',
    reason: 'granted to',
  },
  {
    name: 'compact: a rule contradicting the policy-level target is refused',
    policy: P({ target: 'urn:a', permission: [use([], { target: 'urn:b' })] }),
    expect: 'invalid',
    reason: 'target differs',
  },
  {
    name: 'a rule without any action, and none on the policy, is invalid',
    policy: P({ permission: [{ constraint: [c('purpose', 'isA', 'research')] }] }),
    context: { purpose: 'research' },
    expect: 'invalid',
    reason: 'no action',
  },
  // set operators and taxonomies
  {
    name: 'isAnyOf admits a narrower purpose',
    policy: P({ permission: [use([c('purpose', 'isAnyOf', ['research', 'education'])])] }),
    context: { purpose: 'climate-research' },
    expect: 'allow',
  },
  {
    name: 'isNoneOf refuses a narrower purpose',
    policy: P({ permission: [use([c('purpose', 'isNoneOf', ['marketing'])])] }),
    context: { purpose: 'advertising' },
    expect: 'deny',
  },
  {
    name: '@list values are read',
    policy: P({ permission: [use([c('odrl:purpose', 'isAnyOf', { '@list': ['education', 'research'] })])] }),
    context: { purpose: 'research' },
    expect: 'allow',
  },
  {
    name: 'spatial containment: a province is within its country',
    policy: P({ permission: [use([c('spatial', 'isPartOf', 'CA')])] }),
    context: { spatial: 'CA-QC' },
    expect: 'allow',
  },
  // xone and andSequence
  {
    name: 'xone: exactly one alternative holds',
    policy: P({ permission: [use([{ xone: [c('spatial', 'isPartOf', 'EU'), c('spatial', 'isPartOf', 'CA')] }])] }),
    context: { spatial: 'FR' },
    expect: 'allow',
  },
  {
    name: 'xone: two alternatives holding refuse',
    policy: P({ permission: [use([{ xone: [c('spatial', 'isPartOf', 'EU'), c('spatial', 'eq', 'FR')] }])] }),
    context: { spatial: 'FR' },
    expect: 'deny',
    reason: 'exactly one',
  },
  {
    name: 'andSequence (as @list): all must hold',
    policy: P({ permission: [use([{ andSequence: { '@list': [c('purpose', 'isA', 'research'), c('dateTime', 'lt', '2030-01-01T00:00:00Z')] } }])] }),
    context: { purpose: 'research', ...at('2031-01-01T00:00:00Z') },
    expect: 'deny',
  },
  // conflicts
  {
    name: 'conflict perm: the permission prevails',
    policy: P({ 'odrl:conflict': { '@id': 'odrl:perm' }, permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'allow',
  },
  {
    name: 'conflict prohibit: the prohibition prevails, and the refusal says so',
    policy: P({ 'odrl:conflict': 'odrl:prohibit', permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'deny',
    reason: 'conflict strategy `prohibit`',
  },
  {
    name: "no conflict strategy: ODRL's default, invalid, voids the policy for the request",
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'deny',
    reason: 'conflict strategy `invalid`',
  },
  {
    name: 'a prohibition with a remedy: the refusal names what must be done if it happens anyway',
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:distribute', remedy: [{ action: 'odrl:delete' }] }] }),
    context: { action: 'distribute' },
    expect: 'deny',
    reason: 'If it happens anyway, the requester must',
  },
  {
    name: 'a prohibition that does not apply leaves the permission',
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:distribute' }] }),
    context: { action: 'read' },
    expect: 'allow',
  },
  // duties (a permission's duty is a pre-condition: it binds when the permission is exercised)
  {
    name: 'a duty with no record blocks its permission at a transfer, naming duty, action and policy',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: exercised(),
    expect: 'deny',
    reason: '`compensate` (pay compensation) has not been fulfilled or acknowledged',
  },
  {
    name: 'a duty recorded as pending blocks like no record',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: exercised({ 'urn:duty:pay': 'pending' }),
    expect: 'deny',
    reason: 'has not been fulfilled or acknowledged',
  },
  {
    name: 'a request stating duty records binds at any scope: an unrecorded duty blocks',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: { duties: { 'urn:duty:other': 'fulfilled' } },
    expect: 'deny',
    reason: 'has not been fulfilled or acknowledged',
  },
  {
    name: 'an acknowledged duty permits',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: exercised({ 'urn:duty:pay': 'acknowledged' }),
    expect: 'allow',
  },
  {
    name: 'a fulfilled duty permits',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:attribute' }] })] }),
    context: exercised({ 'permission-1-duty-1': 'fulfilled' }),
    expect: 'allow',
  },
  {
    name: 'a duty offered in a negotiation without records does not block: the agreement binds it',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    expect: 'allow',
    reason: 'Duty `urn:duty:pay` (pending',
  },
  {
    name: 'a violated duty voids its permission',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: exercised({ 'urn:duty:pay': 'violated' }),
    expect: 'deny',
    reason: 'was violated',
  },
  {
    name: 'a duty found by its position id',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:attribute' }] })] }),
    context: exercised({ 'permission-1-duty-1': 'violated' }),
    expect: 'deny',
    reason: 'attribut',
  },
  {
    name: 'an acknowledged duty past its deadline is overdue and blocks',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:delete', constraint: [c('dateTime', 'lt', '2026-01-01T00:00:00Z')] }] })] }),
    context: { ...at('2026-06-01T00:00:00Z'), ...exercised({ 'permission-1-duty-1': 'acknowledged' }) },
    expect: 'deny',
    reason: 'overdue',
  },
  {
    name: 'an acknowledged duty before its deadline permits',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:delete', constraint: [c('dateTime', 'lt', '2027-01-01T00:00:00Z')] }] })] }),
    context: { ...at('2026-06-01T00:00:00Z'), ...exercised({ 'permission-1-duty-1': 'acknowledged' }) },
    expect: 'allow',
  },
  {
    name: 'a fulfilled duty past its deadline does not block',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:delete', constraint: [c('dateTime', 'lt', '2026-01-01T00:00:00Z')] }] })] }),
    context: { ...at('2026-06-01T00:00:00Z'), ...exercised({ 'permission-1-duty-1': 'fulfilled' }) },
    expect: 'allow',
  },
  {
    name: 'one unfulfilled duty among fulfilled ones blocks, and is the one named',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:attribute' }, { action: 'odrl:compensate' }] })] }),
    context: exercised({ 'permission-1-duty-1': 'fulfilled' }),
    expect: 'deny',
    reason: 'duty 2 of permission 1 (use)',
  },
  {
    name: 'a violated policy obligation refuses',
    policy: P({ permission: [use()], obligation: [{ '@id': 'urn:ob:1', action: 'odrl:delete' }] }),
    context: { duties: { 'urn:ob:1': 'violated' } },
    expect: 'deny',
    reason: 'obligation',
  },
  // conflicts
  {
    name: 'conflict perm: the permission prevails',
    policy: P({ 'odrl:conflict': { '@id': 'odrl:perm' }, permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'allow',
  },
  {
    name: 'conflict prohibit: the prohibition prevails, and the refusal says so',
    policy: P({ 'odrl:conflict': 'odrl:prohibit', permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'deny',
    reason: 'conflict strategy `prohibit`',
  },
  {
    name: "no conflict strategy: ODRL's default, invalid, voids the policy for the request",
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:read' }] }),
    context: { action: 'read' },
    expect: 'deny',
    reason: 'conflict strategy `invalid`',
  },
  {
    name: 'a prohibition with a remedy: the refusal names what must be done if it happens anyway',
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:distribute', remedy: [{ action: 'odrl:delete' }] }] }),
    context: { action: 'distribute' },
    expect: 'deny',
    reason: 'If it happens anyway, the requester must',
  },
  {
    name: 'a prohibition that does not apply leaves the permission',
    policy: P({ permission: [use()], prohibition: [{ action: 'odrl:distribute' }] }),
    context: { action: 'read' },
    expect: 'allow',
  },
  // duties
  {
    name: 'a duty not known yet is pending and does not block',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    expect: 'allow',
  },
  {
    name: 'a violated duty voids its permission',
    policy: P({ permission: [use([], { duty: [{ '@id': 'urn:duty:pay', action: 'odrl:compensate' }] })] }),
    context: { duties: { 'urn:duty:pay': 'violated' } },
    expect: 'deny',
    reason: 'was violated',
  },
  {
    name: 'a duty found by its position id',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:attribute' }] })] }),
    context: { duties: { 'permission-1-duty-1': 'violated' } },
    expect: 'deny',
    reason: 'attribut',
  },
  {
    name: 'an overdue duty (its deadline passed, not fulfilled) blocks',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:delete', constraint: [c('dateTime', 'lt', '2026-01-01T00:00:00Z')] }] })] }),
    context: at('2026-06-01T00:00:00Z'),
    expect: 'deny',
    reason: 'overdue',
  },
  {
    name: 'a fulfilled duty past its deadline does not block',
    policy: P({ permission: [use([], { duty: [{ action: 'odrl:delete', constraint: [c('dateTime', 'lt', '2026-01-01T00:00:00Z')] }] })] }),
    context: { ...at('2026-06-01T00:00:00Z'), duties: { 'permission-1-duty-1': 'fulfilled' } },
    expect: 'allow',
  },
  {
    name: 'a violated policy obligation refuses',
    policy: P({ permission: [use()], obligation: [{ '@id': 'urn:ob:1', action: 'odrl:delete' }] }),
    context: { duties: { 'urn:ob:1': 'violated' } },
    expect: 'deny',
    reason: 'obligation',
  },
  // profiles
  { name: 'the DSP ODRL profile is understood', policy: P({ profile: 'https://w3id.org/dspace/2025/1/odrl-profile', permission: [use()] }), expect: 'allow' },
  {
    name: 'an unknown profile makes the policy invalid',
    policy: P({ profile: 'https://example.org/odrl/profile', permission: [use()] }),
    expect: 'invalid',
    reason: 'profile `https://example.org/odrl/profile`',
  },
  // malformed
  {
    name: 'an unknown left operand inside an or is invalid, not false',
    policy: P({ permission: [use([{ or: [c('odrl:shoeSize', 'eq', '42'), c('purpose', 'isA', 'research')] }])] }),
    context: { purpose: 'research' },
    expect: 'invalid',
    reason: 'unknown left operand',
  },
  {
    name: 'a date that is not a date is invalid',
    policy: P({ permission: [use([c('dateTime', 'lt', 'next year')])] }),
    expect: 'invalid',
    reason: 'not a date-time',
  },
  {
    name: 'an unknown operator is invalid',
    policy: P({ permission: [use([c('purpose', 'isSimilarTo', 'research')])] }),
    context: { purpose: 'research' },
    expect: 'invalid',
    reason: 'not an ODRL operator',
  },
  {
    name: 'an unknown action is invalid',
    policy: P({ permission: [{ action: 'http://example.org/teleport' }] }),
    context: { action: 'http://example.org/teleport' },
    expect: 'invalid',
    reason: 'unknown action',
  },
  {
    name: 'an unknown datatype is invalid',
    policy: P({ permission: [use([c('count', 'lteq', { '@value': '5', '@type': 'http://example.org/fuzzyNumber' })])] }),
    expect: 'invalid',
    reason: 'datatype',
  },
  {
    name: 'a term spelled twice is invalid',
    policy: P({ permission: [{ action: 'use', constraint: [], 'odrl:constraint': [c('count', 'lteq', 1)] }] }),
    expect: 'invalid',
    reason: 'given twice',
  },
  {
    name: 'an unknown property is invalid',
    policy: P({ permission: [use([], { 'edc:obscure': true })] }),
    expect: 'invalid',
    reason: 'not a term this connector understands',
  },
]

const defaults = { scope: 'negotiation', assignee: 'did:web:lab.example', assigner: 'did:web:provider.example', now: '2026-06-01T12:00:00Z' }

function viaEngine(k: Case): { verdict: Case['expect']; text: string } {
  const read = readPolicy(k.policy)
  if (!read.model) return { verdict: 'invalid', text: read.errors.join('\n') }
  const built = contextFromData({ ...defaults, ...k.context }, new Date())
  const decision = evaluate(read.model, built.context!)
  return { verdict: decision.allowed ? 'allow' : decision.invalid ? 'invalid' : 'deny', text: decision.invalid?.join('\n') ?? decision.explanation.join('\n') }
}

async function viaCli(k: Case): Promise<{ verdict: Case['expect']; text: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'odrl-case-'))
  writeFileSync(join(dir, 'case.json'), JSON.stringify(k.policy))
  writeFileSync(join(dir, 'context.yaml'), stringify({ ...defaults, ...k.context }))
  let stdout = ''
  let stderr = ''
  const code = await runPolicyCommand(['eval', 'case.json', '--as', 'context.yaml'], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), cwd: dir })
  return { verdict: code === 0 ? 'allow' : code === 1 ? 'deny' : 'invalid', text: stdout + stderr }
}

describe('independent ODRL cases', () => {
  it.each(cases.map((k) => [k.name, k] as const))('engine: %s', (_name, k) => {
    const { verdict, text } = viaEngine(k)
    expect(verdict, text).toBe(k.expect)
    if (k.reason) expect(text).toContain(k.reason)
  })

  it.each(cases.map((k) => [k.name, k] as const))('CLI: %s', async (_name, k) => {
    const { verdict, text } = await viaCli(k)
    expect(verdict, text).toBe(k.expect)
    if (k.reason) expect(text).toContain(k.reason)
  })
})
