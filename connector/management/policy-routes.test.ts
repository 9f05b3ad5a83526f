import { cpSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { participantFolder } from '../../test/support/catalog.ts'
import { generatedDataset } from '../../test/support/catalog-fixtures.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { fromRoot } from '../paths.ts'
import { createCatalog, createCatalogArea } from '../catalog/routes.ts'
import { createApp } from '../http/app.ts'
import { enginePolicyCheck } from '../negotiation/policy-check.ts'
import type { Store } from '../store/store.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import { policyArea } from './policy-routes.ts'

const key = 'test-management-key-0123456789'
const manage = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
const wildfire = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are inspected freely
type JsonResponse = Omit<Response, 'json'> & { json(): Promise<any> }

describe.each(dialects)('policy routes of the management API on %s', (dialect) => {
  let store: Store
  let root: string
  let app: ReturnType<typeof createApp>['app']
  let service: CatalogService

  beforeAll(async () => {
    store = await createTestStore(dialect)
    root = participantFolder()
    cpSync(fromRoot('seeds/policies'), join(root, 'policies'), { recursive: true })
    // A file that does not compile (line 4: an operator the engine does not know), and a failing case.
    writeFileSync(
      join(root, 'policies', 'broken.yaml'),
      'id: broken\ntitle: Broken\npermissions:\n  - action: use\n    constraints:\n      - { leftOperand: purpose, operator: resembles, rightOperand: research }\n',
    )
    writeFileSync(
      join(root, 'policies', 'research-wrong.test.yaml'),
      'policy: research-only\ncases:\n  - name: marketing is research (wrong on purpose)\n    context: { purpose: marketing }\n    expect: allow\n',
    )
    const ctx = testContext(store, { config: testConfig({}, root) })
    const parts = await createCatalog(ctx)
    service = parts.service
    app = createApp(ctx, [createCatalogArea(parts), policyArea(parts.service)]).app
  })
  afterAll(async () => {
    await store?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const call = (url: string, init?: RequestInit) => app.request(url, init) as unknown as Promise<JsonResponse>
  const evaluate = (id: string, body: unknown, headers: Record<string, string> = manage) =>
    call(`/management/v1/policies/${encodeURIComponent(id)}/evaluate`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })

  it('lists the policies in plain language, with the datasets that use them, and the files that do not compile with their line', async () => {
    const response = await call('/management/v1/policies', { headers: manage })
    expect(response.status).toBe(200)
    const body = await response.json()
    const ids = body.items.map((p: { id: string }) => p.id)
    expect(ids).toEqual(expect.arrayContaining(['members-only', 'research-only', 'open-with-attribution']))
    expect(ids).not.toContain('broken')
    const members = body.items.find((p: { id: string }) => p.id === 'members-only')
    expect(members).toMatchObject({ title: 'Members of the data space only', file: 'policies/members-only.yaml', lint: [] })
    expect(members.plainText).toContain('Permitted')
    expect(members.datasets).toEqual({ ids: [wildfire], total: 1 })
    const research = body.items.find((p: { id: string }) => p.id === 'research-only')
    expect(research.datasets.total).toBe(2)
    const broken = body.problems.find((p: { file: string }) => p.file === 'policies/broken.yaml')
    expect(broken).toMatchObject({ severity: 'error', line: 6 })
    expect(broken.message).toMatch(/resembles/)
  })

  it('counts a dataset created through the API among those using its policies at once', async () => {
    const dataset = { ...generatedDataset(7), policies: ['members-only'] }
    expect((await call('/management/v1/datasets', { method: 'POST', headers: manage, body: JSON.stringify(dataset) })).status).toBe(201)
    const members = await (await call('/management/v1/policies/members-only', { headers: manage })).json()
    expect(members.datasets).toEqual({ ids: [dataset.id, wildfire].sort(), total: 2 })
    expect((await call(`/management/v1/datasets/${encodeURIComponent(dataset.id)}`, { method: 'DELETE', headers: manage })).status).toBe(204)
    expect((await (await call('/management/v1/policies/members-only', { headers: manage })).json()).datasets.total).toBe(1)
  })

  it('reads one policy with its ODRL offer; an unknown id is 404 and the key is required', async () => {
    const response = await call('/management/v1/policies/members-only', { headers: manage })
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.odrl['@type']).toBe('Offer')
    expect(body.datasets.ids).toEqual([wildfire])
    const unknown = await call('/management/v1/policies/no-such-policy', { headers: manage })
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).error.message).toMatch(/no policy no-such-policy/)
    expect((await call('/management/v1/policies/broken', { headers: manage })).status).toBe(404)
    expect((await call('/management/v1/policies', {})).status).toBe(401)
  })

  it('tries a request: refused with a reason naming the policy and a trace tree, allowed when it qualifies', async () => {
    const refused = await evaluate('research-only', { participant: 'did:web:shop.example', purpose: 'marketing', date: '2026-06-01T12:00:00Z' })
    expect(refused.status).toBe(200)
    const no = await refused.json()
    expect(no).toMatchObject({ allowed: false, scope: 'negotiation', at: '2026-06-01T12:00:00.000Z', policy: { id: 'research-only' } })
    expect(no.reason).toMatch(/research-only/)
    expect(no.trace[0].rule).toMatch(/permission 1/)
    expect(no.trace[0].nodes[0]).toMatchObject({ outcome: 'violated' })
    expect(no.trace[0].nodes[0].text).toMatch(/purpose isA/)

    const allowed = await (await evaluate('research-only', { participant: 'did:web:lab.example', purpose: 'climate-research' })).json()
    expect(allowed.allowed).toBe(true)

    const member = await (
      await evaluate('members-only', { participant: 'did:web:lab.example', credentials: [{ type: 'MembershipCredential', expiresAt: '2030-01-01T00:00:00Z' }] })
    ).json()
    expect(member.allowed).toBe(true)
    const expired = await (
      await evaluate('members-only', {
        participant: 'did:web:lab.example',
        date: '2031-01-01T00:00:00Z',
        credentials: [{ type: 'MembershipCredential', expiresAt: '2030-01-01T00:00:00Z' }],
      })
    ).json()
    expect(expired.allowed).toBe(false)
    // The catalog's decision: a stranger does not even see what members-only guards.
    const catalogScope = await (await evaluate('members-only', { participant: 'did:web:stranger.example', scope: 'catalog' })).json()
    expect(catalogScope).toMatchObject({ allowed: false, scope: 'catalog' })
  })

  it('decides as negotiation does, with the same engine and compiled policy', async () => {
    const policy = service.policies.policy('research-only')!
    const answer = await (await evaluate('research-only', { participant: 'did:web:shop.example', purpose: 'marketing', date: '2026-06-01T12:00:00Z' })).json()
    const negotiation = enginePolicyCheck({
      published: { offer: policy.odrl, policy, name: policy.id },
      requester: { participantId: 'did:web:shop.example', credentials: [], declared: { purpose: 'marketing' } },
      datasetId: 'any',
      providerId: 'did:web:127.0.0.1%3A8181',
      now: new Date('2026-06-01T12:00:00Z'),
    })
    expect(answer.allowed).toBe(negotiation.allowed)
    expect(answer.reason).toBe(negotiation.reason)
  })

  it('refuses bad requests with 400 naming the field, and changes nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /body\.participant/],
      [{ participant: 'did:web:a.example', who: 'x' }, /who|unrecognized/i],
      [{ participant: 'did web with spaces' }, /participant/],
      [{ participant: 'did:web:a.example', date: 'yesterday' }, /body\.date/],
      [{ participant: 'did:web:a.example', scope: 'transfer' }, /body\.scope/],
      [{ participant: 'did:web:a.example', purpose: 'two words' }, /body\.purpose/],
      [{ participant: 'did:web:a.example', credentials: [{ type: '<script>' }] }, /credentials\.0\.type/],
      [{ participant: 'did:web:a.example', credentials: Array.from({ length: 21 }, () => ({ type: 'X' })) }, /credentials/],
      [[1, 2], /body/],
    ]
    for (const [body, message] of cases) {
      const response = await evaluate('research-only', body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect((await response.json()).error.message).toMatch(message)
    }
    expect((await evaluate('research-only', '{"participant":')).status).toBe(400)
    expect(
      (await evaluate('research-only', { participant: 'did:web:a.example' }, { authorization: manage.authorization, 'content-type': 'text/plain' })).status,
    ).toBe(415)
    expect((await evaluate('no-such-policy', { participant: 'did:web:a.example' })).status).toBe(404)
    expect((await evaluate('research-only', { participant: 'did:web:a.example' }, { 'content-type': 'application/json' })).status).toBe(401)
  })

  it("runs the steward's test cases of one policy, and says which fail", async () => {
    const members = await call('/management/v1/policies/members-only/test', { method: 'POST', headers: manage })
    expect(members.status).toBe(200)
    const ok = await members.json()
    expect(ok).toMatchObject({ policy: 'members-only', files: ['policies/members-only.test.yaml'], failed: 0 })
    expect(ok.passed).toBeGreaterThanOrEqual(5)
    const research = await (await call('/management/v1/policies/research-only/test', { method: 'POST', headers: manage })).json()
    expect(research.failed).toBe(1)
    const failing = research.results.find((r: { passed: boolean }) => !r.passed)
    expect(failing).toMatchObject({ file: 'policies/research-wrong.test.yaml', name: 'marketing is research (wrong on purpose)' })
    expect(failing.message).toMatch(/expected allow, got deny/)
    expect((await call('/management/v1/policies/no-such-policy/test', { method: 'POST', headers: manage })).status).toBe(404)
  })

  it('previews the catalog as a participant sees it: a stranger misses the members-only dataset and is told why', async () => {
    const stranger = await call('/management/v1/catalog/preview?participant=did:web:stranger.example&limit=100', { headers: manage })
    expect(stranger.status).toBe(200)
    const seen = await stranger.json()
    const ids = seen.datasets.map((d: { id: string }) => d.id)
    expect(ids).not.toContain(wildfire)
    expect(ids.length).toBe(4)
    expect(seen.total).toBe(4)
    expect(seen.refused).toEqual([expect.objectContaining({ policy: 'members-only', title: 'Members of the data space only' })])
    expect(seen.refused[0].reason).toMatch(/members-only/)
    const first = seen.datasets.find((d: { offers: unknown[] }) => d.offers.length > 0)
    expect(first.offers[0].policy).toBeTruthy()
    expect(first.title).toBeTruthy()

    const member = await (
      await call('/management/v1/catalog/preview?participant=did:web:lab.example&credential=MembershipCredential&limit=100', { headers: manage })
    ).json()
    const wild = member.datasets.find((d: { id: string }) => d.id === wildfire)
    expect(wild.offers.map((o: { policy: string }) => o.policy)).toEqual(['members-only', 'research-only'])
    expect(member.refused).toEqual([])
    expect(member.total).toBe(5)
  })

  it('describes the routes in the OpenAPI document with the schemas they parse with', async () => {
    const document = await (await call('/management/v1/openapi.json', { headers: manage })).json()
    const evaluate = document.paths['/policies/{id}/evaluate'].post
    expect(evaluate.requestBody.content['application/json'].schema.required).toContain('participant')
    expect(Object.keys(evaluate.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['participant', 'purpose', 'spatial', 'date', 'credentials', 'scope']),
    )
    expect(document.paths['/catalog/preview'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['participant', 'credential', 'offset', 'limit'])
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/policies', '/policies/{id}', '/policies/{id}/test']))
  })

  it('refuses a bad preview query with 400', async () => {
    for (const query of [
      '',
      '?participant=',
      '?participant=did:web:a.example&credential=bad%20type',
      '?participant=did:web:a.example&limit=0',
      '?participant=did:web:a.example&x=1',
    ]) {
      const response = await call(`/management/v1/catalog/preview${query}`, { headers: manage })
      expect(response.status, query).toBe(400)
    }
  })
})
