/**
 * The participant folders of the EU–Canada climate example, as shipped: policies lint clean and
 * pass their stewards' tests, datasets validate with the CLI, every secret is marked dev-only, and
 * each credential is the authority's, about its holder.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { z } from 'zod'
import { evaluate, loadPolicies, type EvaluationContext } from '../../policies/index.ts'
import { exampleDir, members, shipped, subjectClaims } from '../../examples/eu-canada-climate/support/space.ts'
import { spawnCli } from '../support/processes.ts'

/** A steward test file (`*.test.yaml` beside the policies): a policy id and cases of context + expected decision. */
const StewardTests = z.strictObject({
  policy: z.string(),
  cases: z.array(
    z.strictObject({
      name: z.string(),
      context: z.strictObject({
        scope: z.enum(['catalog', 'negotiation', 'transfer', 'monitor']),
        action: z.string().default('use'),
        assignee: z.string(),
        purpose: z.string().optional(),
        spatial: z.string().optional(),
        industry: z.string().optional(),
        now: z.union([z.string(), z.date()]),
        credentials: z.array(z.strictObject({ types: z.array(z.string()), issuer: z.string(), claims: z.record(z.string(), z.unknown()) })).default([]),
        agreement: z.strictObject({ signedAt: z.union([z.string(), z.date()]) }).optional(),
        usage: z.strictObject({ count: z.number().int().min(0) }).optional(),
      }),
      expect: z.strictObject({ allowed: z.boolean(), reason: z.string().optional(), obligations: z.array(z.string()).optional() }),
    }),
  ),
})

const asDate = (value: string | Date) => (value instanceof Date ? value : new Date(value))

describe.each(members)('example participant %s', (member) => {
  const dir = join(exampleDir, shipped[member].folder)
  const policiesDir = join(dir, 'policies')
  const testFiles = readdirSync(policiesDir).filter((f) => f.endsWith('.test.yaml'))

  it('has policy files that lint without a single error', async () => {
    const { errors, policies } = await loadPolicies([policiesDir])
    expect(errors).toEqual([])
    expect(policies.size).toBeGreaterThan(0)
  })

  it('has a steward test file for every policy its datasets offer', async () => {
    const offered = new Set(
      readdirSync(join(dir, 'datasets')).flatMap((f) => (parse(readFileSync(join(dir, 'datasets', f), 'utf8')) as { policies: string[] }).policies),
    )
    const tested = new Set(testFiles.map((f) => StewardTests.parse(parse(readFileSync(join(policiesDir, f), 'utf8'))).policy))
    expect([...offered].filter((p) => !tested.has(p))).toEqual([])
  })

  it.each(testFiles)('passes the steward tests of %s', async (file) => {
    const suite = StewardTests.parse(parse(readFileSync(join(policiesDir, file), 'utf8')))
    const { policies } = await loadPolicies([policiesDir])
    const policy = policies.get(suite.policy)
    expect(policy, `policy ${suite.policy}`).toBeDefined()
    for (const testCase of suite.cases) {
      const { context } = testCase
      const { agreement, now, credentials, ...rest } = context
      const evaluation: EvaluationContext = {
        ...rest,
        now: asDate(now),
        credentials: credentials.map((c) => ({ ...c, expiresAt: Date.parse('2036-01-01T00:00:00Z') })),
        ...(agreement ? { agreement: { signedAt: asDate(agreement.signedAt) } } : {}),
      }
      const decision = evaluate(policy!, evaluation)
      expect({ case: testCase.name, allowed: decision.allowed }).toEqual({ case: testCase.name, allowed: testCase.expect.allowed })
      if (testCase.expect.reason) expect(decision.reason, testCase.name).toContain(testCase.expect.reason)
      if (testCase.expect.obligations) expect(decision.obligations.map((o) => o.action), testCase.name).toEqual(testCase.expect.obligations)
    }
  })

  it('has dataset files that `passerelle catalog validate` accepts, with their files and checksums', async () => {
    const run = spawnCli({ args: ['catalog', 'validate', dir] })
    expect(await run.exited, run.output.join('\n')).toBe(0)
    expect(run.output.join('\n')).toMatch(/\d+ files?, \d+ valid, 0 problems/)
  })

  it('marks its published secrets as development only', () => {
    const config = readFileSync(join(dir, 'passerelle.yaml'), 'utf8')
    expect(config).toMatch(/DEVELOPMENT ONLY/)
    expect(parse(config).management.apiKey).toMatch(/^dev-only-/)
    expect(JSON.parse(readFileSync(join(dir, 'identity', 'private-key.jwk'), 'utf8')).devOnly).toBe(true)
  })

  it("holds a membership credential from the example's authority about itself", () => {
    const config = parse(readFileSync(join(dir, 'passerelle.yaml'), 'utf8'))
    const jwt = readFileSync(join(dir, config.identity.credentialFiles[0]), 'utf8').trim()
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'))
    const authorityDid = `did:web:127.0.0.1%3A${shipped.authority.port}`
    expect(config.identity.trustedIssuers).toEqual([authorityDid])
    expect(payload.iss).toBe(authorityDid)
    expect(payload.sub).toBe(config.participant.id)
    expect(payload.vc.type).toContain('MembershipCredential')
    expect(subjectClaims(jwt)).toMatchObject({ memberOf: 'eu-canada-climate' })
  })
})

it("the example's authority key is marked development only and matches its DID document", () => {
  const key = JSON.parse(readFileSync(join(exampleDir, 'authority', 'private-key.jwk'), 'utf8'))
  const did = JSON.parse(readFileSync(join(exampleDir, 'authority', 'did.json'), 'utf8'))
  expect(key.devOnly).toBe(true)
  expect(did.id).toBe(`did:web:127.0.0.1%3A${shipped.authority.port}`)
  expect(did.verificationMethod[0].publicKeyJwk.x).toBe(key.x)
})
