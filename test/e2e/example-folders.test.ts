/**
 * The participant folders of the EU–Canada climate example, as shipped: policies lint clean and
 * pass their stewards' tests, datasets validate with the CLI, every secret is marked dev-only, and
 * each credential is the authority's, about its holder.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadPolicies, runStewardTests } from '../../policies/index.ts'
import { dataSpaces, exampleDir, members, shipped, subjectClaims } from '../../examples/eu-canada-climate/support/space.ts'
import { spawnCli } from '../support/processes.ts'

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
    const tested = new Set(testFiles.map((f) => (parse(readFileSync(join(policiesDir, f), 'utf8')) as { policy: string }).policy))
    expect([...offered].filter((p) => !tested.has(p))).toEqual([])
  })

  it("passes its stewards' tests (the runner of `passerelle policy test`), one case at least per test file", async () => {
    const run = await runStewardTests(policiesDir, new Date('2026-11-28T12:00:00Z'))
    expect(run.errors).toEqual([])
    expect(run.results.filter((r) => !r.passed).map((r) => `${r.policy}: ${r.name}: ${r.message}`)).toEqual([])
    expect(new Set(run.results.map((r) => r.file.split(/[\\/]/).pop())).size).toBe(testFiles.length)
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

  it('holds a membership credential about itself from the authority of its data space, and trusts each authority for its own data space only', () => {
    const config = parse(readFileSync(join(dir, 'passerelle.yaml'), 'utf8'))
    const jwt = readFileSync(join(dir, config.identity.credentialFiles[0]), 'utf8').trim()
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'))
    const memberOf = subjectClaims(jwt).memberOf as keyof typeof dataSpaces
    expect(Object.keys(dataSpaces)).toContain(memberOf)
    expect(payload.iss).toBe(`did:web:127.0.0.1%3A${shipped[dataSpaces[memberOf].authority].port}`)
    expect(payload.sub).toBe(config.participant.id)
    expect(payload.vc.type).toContain('MembershipCredential')
    expect(config.identity.trustedIssuers).toEqual([])
    expect(config.identity.dataSpaces).toEqual(
      Object.values(dataSpaces).map((space, i) => ({
        id: Object.keys(dataSpaces)[i],
        issuers: [{ did: `did:web:127.0.0.1%3A${shipped[space.authority].port}`, types: ['MembershipCredential'] }],
      })),
    )
  })
})

it.each(['authority', 'authorityCa'] as const)("the example's authority key (%s) is marked development only and matches its DID document", (authority) => {
  const key = JSON.parse(readFileSync(join(exampleDir, shipped[authority].folder, 'private-key.jwk'), 'utf8'))
  const did = JSON.parse(readFileSync(join(exampleDir, shipped[authority].folder, 'did.json'), 'utf8'))
  expect(key.devOnly).toBe(true)
  expect(did.id).toBe(`did:web:127.0.0.1%3A${shipped[authority].port}`)
  expect(did.verificationMethod[0].publicKeyJwk.x).toBe(key.x)
})
