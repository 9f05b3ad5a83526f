import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, testContext } from '../../test/support/context.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { participantFolder, testPolicySource } from '../../test/support/catalog.ts'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { PasserelleError } from '../errors.ts'
import { createApp } from '../http/app.ts'
import type { Identity } from '../identity/identity.ts'
import type { Authenticator } from '../identity/types.ts'
import type { Store } from '../store/store.ts'
import { createCatalog, createCatalogArea } from './routes.ts'

/** Eclipse EDC's catalog query (QuerySpec in the CatalogRequestMessage's filter), through the DSP endpoint. */

const dsp = '/dsp/2025-1'
const dspContext = 'https://w3id.org/dspace/2025/1/context.jsonld'
const edc = 'https://w3id.org/edc/v0.0.1/ns/'
const headers = { authorization: 'Bearer member-token', 'content-type': 'application/json' }
const ice = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
const precipitation = 'urn:uuid:af38b80d-a476-44b5-b132-3a902036bc62'
const seedIds = [
  ice,
  'urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253',
  precipitation,
  'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94',
  'urn:uuid:f431f209-fe28-41b5-aa8f-c4fd8cf65bf0',
].sort()

const message = (filter: unknown) => JSON.stringify({ '@context': [dspContext], '@type': 'CatalogRequestMessage', filter })
const criterion = (operandLeft: unknown, operator: unknown, operandRight: unknown) => ({ operandLeft, operator, operandRight })
const spec = (fields: Record<string, unknown>) => message([{ '@type': 'QuerySpec', ...fields }])

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are inspected freely
type JsonResponse = Omit<Response, 'json'> & { json(): Promise<any> }

const authenticator: Authenticator = {
  async authenticate({ authorization }) {
    if (authorization === 'Bearer member-token')
      return {
        participantId: 'did:web:member.example',
        credentials: [{ types: ['VerifiableCredential', 'MembershipCredential'], issuer: 'did:web:issuer.example', claims: {} }],
      }
    throw new PasserelleError('unauthorized', 'invalid token')
  },
}

describe.each(dialects)('EDC catalog query on %s', (dialect) => {
  let store: Store
  let root: string
  let app: ReturnType<typeof createApp>['app']

  beforeAll(async () => {
    store = await createTestStore(dialect)
    root = participantFolder()
    const ctx = testContext(store, { config: testConfig({ server: { bodyLimit: 64 * 1024 } }, root), identity: { authenticator } as unknown as Identity })
    app = createApp(ctx, [createCatalogArea(await createCatalog(ctx, { policies: testPolicySource() }))]).app
  })
  afterAll(async () => {
    await store?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const post = (body: string, query = '') =>
    app.request(`${dsp}/catalog/request${query}`, { method: 'POST', headers, body }) as unknown as Promise<JsonResponse>
  const ids = async (body: string, query = '') => {
    const response = await post(body, query)
    expect(response.status).toBe(200)
    return ((await response.json()).dataset ?? []).map((d: { '@id': string }) => d['@id'])
  }
  const refused = async (body: string) => {
    const response = await post(body)
    expect(response.status).toBe(400)
    const error = await response.json()
    expectDspValid('catalog/catalog-error-schema.json', error)
    return JSON.stringify(error)
  }

  it('pages with the offset and limit of the query, every dataset once in id order', async () => {
    const seen: string[] = []
    for (let offset = 0; offset < 10; offset += 2) seen.push(...(await ids(spec({ offset, limit: 2 }))))
    expect(seen).toEqual(seedIds)
    expect(await ids(spec({ offset: 4, limit: 50 }))).toEqual(seedIds.slice(4))
  })

  it('answers Link headers with the query’s limit, and the query string wins over the body', async () => {
    const response = await post(spec({ offset: 0, limit: 2 }))
    expect(response.headers.get('link')).toMatch(/offset=2&limit=2&after=[^>]+>; rel="next"/)
    expect(await ids(spec({ offset: 0, limit: 2 }), '?offset=1&limit=3')).toEqual(seedIds.slice(1, 4))
  })

  it('reads the query in EDC’s spellings: edc: prefix, full IRIs, value objects, a single criterion', async () => {
    const prefixed = JSON.stringify({
      '@context': [dspContext, { edc }],
      '@type': 'CatalogRequestMessage',
      filter: [
        {
          '@type': 'edc:QuerySpec',
          'edc:offset': 0,
          'edc:limit': 10,
          'edc:filterExpression': [{ 'edc:operandLeft': 'https://w3id.org/edc/v0.0.1/ns/id', 'edc:operator': '=', 'edc:operandRight': ice }],
        },
      ],
    })
    expect(await ids(prefixed)).toEqual([ice])
    // The DSP context makes `filter` a set: one query alone, in JSON-LD, reads as a list of one.
    const alone = JSON.stringify({
      '@context': [dspContext, { edc }],
      '@type': 'CatalogRequestMessage',
      filter: { '@type': 'edc:QuerySpec', 'edc:offset': 1, 'edc:limit': 2 },
    })
    expect(await ids(alone)).toEqual(seedIds.slice(1, 3))
    const full = message([
      {
        [`${edc}limit`]: [{ '@value': 1 }],
        [`${edc}filterExpression`]: { [`${edc}operandLeft`]: 'id', [`${edc}operator`]: 'like', [`${edc}operandRight`]: 'urn:uuid:af38%' },
      },
    ])
    expect(await ids(full)).toEqual([precipitation])
  })

  it.each([
    ['id =', criterion('id', '=', ice), [ice]],
    ['id in', criterion(`${edc}id`, 'in', [precipitation, ice, 'urn:uuid:unknown']), [ice, precipitation]],
    ['id like', criterion('@id', 'like', 'URN:UUID:0F3C%'), [ice]],
    ['title = (any language, any case)', criterion('dct:title', '=', 'ÉTENDUE DE LA GLACE DE MER ARCTIQUE, SÉRIE MENSUELLE 2015–2024'), [ice]],
    ['title like', criterion('http://purl.org/dc/terms/title', 'like', '%precipitation%'), [precipitation]],
    ['keyword =', criterion('dcat:keyword', '=', 'Sea Ice'), [ice]],
    ['keyword in', criterion('keyword', 'in', ['glace de mer', 'no such keyword']), [ice]],
    ['theme =', criterion('http://www.w3.org/ns/dcat#theme', '=', 'http://publications.europa.eu/resource/authority/data-theme/AGRI'), [precipitation]],
    ['publisher = its IRI', criterion('dct:publisher', '=', 'https://observatoire-climatique.example/'), 'some'],
    ['publisher like its name', criterion('publisher', 'like', 'observatoire climatique%'), 'some'],
    ['a value that matches nothing', criterion('title', '=', 'no such title'), []],
  ])('filters with %s', async (_name, c, expected) => {
    const found = await ids(spec({ filterExpression: [c] }))
    if (expected === 'some') {
      expect(found.length).toBeGreaterThan(0)
      expect(found.every((id: string) => seedIds.includes(id))).toBe(true)
    } else expect(found).toEqual(expected)
  })

  it('combines criteria with AND, and with the catalog’s own filter entries', async () => {
    expect(
      await ids(
        spec({
          filterExpression: [criterion('theme', '=', 'http://publications.europa.eu/resource/authority/data-theme/ENVI'), criterion('keyword', '=', 'sea ice')],
        }),
      ),
    ).toEqual([ice])
    expect(await ids(message([{ keyword: 'sea ice' }, { '@type': 'QuerySpec', filterExpression: [criterion('id', '=', precipitation)] }]))).toEqual([])
  })

  it('accepts sorting by id ascending, EDC’s default', async () => {
    expect(await ids(spec({ sortField: `${edc}id`, sortOrder: 'ASC', limit: 1 }))).toEqual(seedIds.slice(0, 1))
  })

  it.each([
    ['a negative offset', spec({ offset: -1 }), 'offset must be between 0'],
    ['a huge offset', spec({ offset: 1e15 }), 'offset must be'],
    ['a non-numeric offset', spec({ offset: 'ten' }), 'offset must be an integer'],
    ['a fractional limit', spec({ limit: 1.5 }), 'limit must be an integer'],
    ['a zero limit', spec({ limit: 0 }), 'limit must be between 1 and 1000'],
    ['a huge limit', spec({ limit: 1_000_000 }), 'limit must be between 1 and 1000'],
    ['an object as limit', spec({ limit: { '@value': { deep: 1 } } }), 'limit must be an integer'],
    ['an unknown operator', spec({ filterExpression: [criterion('id', '!=', ice)] }), 'unsupported operator \\"!=\\"'],
    ['a comparison operator', spec({ filterExpression: [criterion('title', '>', 'a')] }), 'unsupported operator \\">\\"'],
    ['a property the catalog cannot filter on', spec({ filterExpression: [criterion(`${edc}contenttype`, '=', 'text/csv')] }), 'cannot filter on'],
    ['a nested operandRight', spec({ filterExpression: [criterion('id', '=', { a: { b: { c: [1, 2, { d: 'x' }] } } })] }), 'operandRight must be a string'],
    ['an operandLeft that is not a string', spec({ filterExpression: [criterion(['id', 'title'], '=', 'x')] }), 'operandLeft must be a string'],
    ['in without a list', spec({ filterExpression: [criterion('id', 'in', ice)] }), 'takes an array'],
    ['in with nested lists', spec({ filterExpression: [criterion('id', 'in', [[ice, precipitation]])] }), 'must be a string'],
    [
      'in with too many values',
      spec({
        filterExpression: [
          criterion(
            'id',
            'in',
            Array.from({ length: 101 }, (_, i) => `v${i}`),
          ),
        ],
      }),
      '1 to 100 values',
    ],
    ['too many criteria', spec({ filterExpression: Array.from({ length: 21 }, () => criterion('id', '=', ice)) }), 'at most 20 criteria'],
    ['a like pattern with too many wildcards', spec({ filterExpression: [criterion('title', 'like', '%a%b%c%d%e%f%g%h%i%')] }), 'wildcards'],
    ['a criterion with an extra member', spec({ filterExpression: [{ ...criterion('id', '=', ice), or: [] }] }), 'unsupported property'],
    ['a criterion that is not an object', spec({ filterExpression: ['id = x'] }), 'must be an object'],
    ['an unknown query member', spec({ range: { from: 0, to: 10 } }), 'unsupported property'],
    ['sorting by another field', spec({ sortField: 'title' }), 'cannot sort by'],
    ['a descending order', spec({ sortOrder: 'DESC' }), 'sortOrder'],
    [
      'two queries',
      message([
        { '@type': 'QuerySpec', limit: 1 },
        { '@type': 'QuerySpec', limit: 2 },
      ]),
      'at most one QuerySpec',
    ],
  ])('refuses %s with a CatalogError naming it', async (_name, body, reason) => {
    expect(await refused(body)).toContain(reason)
  })

  it('answers a refused query with nothing else: the same catalog afterwards', async () => {
    await refused(spec({ filterExpression: [criterion('colour', '=', 'blue')] }))
    expect(await ids(message([]))).toEqual(seedIds.slice(0, 5))
  })
})
