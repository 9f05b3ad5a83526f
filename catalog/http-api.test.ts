import { describe, expect, it } from 'vitest'
import { Distribution } from './dataset.ts'
import { checkApiRequest, HttpApi, upstreamUrl } from './http-api.ts'

const api = HttpApi.parse({
  query: [
    { name: 'station', pattern: '[A-Z]{3}', required: true },
    { name: 'from', type: 'date' },
    { name: 'depth', type: 'number' },
  ],
  path: '[a-z0-9_]+\\.nc',
})

describe('HTTP API parameters', () => {
  it('accepts declared parameters and a matching path suffix, and builds the upstream URL', () => {
    const checked = checkApiRequest(api, '/arctic_2024.nc', [
      ['station', 'MTL'],
      ['from', '2024-01-01'],
      ['depth', '-12.5'],
    ])
    expect(checked).toEqual({
      ok: true,
      segments: ['arctic_2024.nc'],
      query: [
        ['station', 'MTL'],
        ['from', '2024-01-01'],
        ['depth', '-12.5'],
      ],
    })
    if (!checked.ok) return
    expect(upstreamUrl('https://api.example.org/opendap/?fixed=1', checked)).toBe(
      'https://api.example.org/opendap/arctic_2024.nc?fixed=1&station=MTL&from=2024-01-01&depth=-12.5',
    )
  })

  it('refuses, naming it: an undeclared, repeated, missing, mistyped or unmatched parameter', () => {
    const refused = (query: Array<[string, string]>, suffix = '') => {
      const r = checkApiRequest(api, suffix, query)
      return r.ok ? 'accepted' : r.message
    }
    expect(
      refused([
        ['station', 'MTL'],
        ['token', 'x'],
      ]),
    ).toContain("'token' is not declared")
    expect(
      refused([
        ['station', 'MTL'],
        ['station', 'QUE'],
      ]),
    ).toContain("'station' is given twice")
    expect(refused([['from', '2024-01-01']])).toContain("'station' is required")
    expect(
      refused([
        ['station', 'MTL'],
        ['from', '2024-13-45'],
      ]),
    ).toContain("'from' expects a date")
    expect(
      refused([
        ['station', 'MTL'],
        ['depth', '1e999999'],
      ]),
    ).toContain("'depth' expects a number")
    expect(refused([['station', 'MTLX']])).toContain("'station' does not match the pattern")
    expect(refused([['station', '']])).toContain("'station' is empty")
    expect(refused([['station', 'MTL']], '/x.csv')).toContain('does not match the pattern')
  })

  it('refuses path suffixes that climb or hide separators, and any suffix or parameter where none is declared', () => {
    for (const suffix of ['/../a.nc', '/%2e%2e/a.nc', '/a%2Fb.nc', '/a%5cb.nc', '/a\\b.nc', '//a.nc', '/./a.nc', '/%00.nc', '/%zz.nc']) {
      const r = checkApiRequest(api, suffix, [['station', 'MTL']])
      expect(r.ok, suffix).toBe(false)
    }
    expect(checkApiRequest(undefined, '/a.nc', [])).toMatchObject({ ok: false, message: 'this distribution takes no path suffix' })
    expect(checkApiRequest(undefined, '', [['station', 'MTL']])).toMatchObject({ ok: false, message: expect.stringContaining('it takes none') })
  })

  it('refuses a distribution declaring a parameter twice, an invalid pattern, or an api on a file', () => {
    expect(HttpApi.safeParse({ query: [{ name: 'a' }, { name: 'a' }] }).success).toBe(false)
    expect(HttpApi.safeParse({ path: '([a-z' }).success).toBe(false)
    const file = { mediaType: 'text/csv', byteSize: 1, sha256: '0'.repeat(64), file: 'files/a.csv', api: {} }
    expect(Distribution.safeParse(file).success).toBe(false)
  })
})

describe('the declared schema in the catalog', () => {
  it('shows in the DSP dataset (our namespace, a JSON literal) and in the DCAT-AP distribution description, without URL or secret', async () => {
    const { parse } = await import('yaml')
    const { readFileSync } = await import('node:fs')
    const { DatasetDescription } = await import('./dataset.ts')
    const { dspDataset, httpApiTerm } = await import('./dsp-render.ts')
    const { dcatDataset } = await import('./dcat-render.ts')
    const raw = parse(readFileSync(new URL('../seeds/datasets/arctic-sea-ice-extent.yaml', import.meta.url), 'utf8'))
    const { file: _file, ...distribution } = raw.distributions[0]
    raw.distributions = [
      { ...distribution, url: 'https://api.example.org/opendap/arctic', secret: 'arctic-api', api: { query: [{ name: 'station', required: true }] } },
    ]
    const dataset = DatasetDescription.parse(raw)
    const dsp = dspDataset(dataset, [], { id: 'urn:service', endpointURL: 'https://connector.example.org/dsp' }) as unknown as Record<string, unknown>
    expect(dsp[httpApiTerm]).toEqual({ '@type': '@json', '@value': { query: [{ name: 'station', type: 'string', required: true }] } })
    const dcat = dcatDataset(dataset, ['open'], { id: 'urn:service', endpointURL: 'https://connector.example.org/dsp', title: 'Service' })
    expect(JSON.stringify(dcat)).toContain('HTTP API: query parameters station (string, required)')
    const text = JSON.stringify(dsp) + JSON.stringify(dcat)
    expect(text).not.toContain('api.example.org')
    expect(text).not.toContain('arctic-api')
  })
})
