import { Catalog } from '../../catalog/catalog.ts'
import { parseFilter } from '../../catalog/filter.ts'
import type { DatasetDescription } from '../../catalog/dataset.ts'
import { fakePolicies, generatedDataset, member } from '../../test/support/catalog-fixtures.ts'
import type { SimHandler } from './transport.ts'

/**
 * One simulated participant: the real catalog (rows in memory) behind a DSP catalog endpoint that
 * answers like `connector/catalog/routes.ts` does: paging with `offset`/`limit` and the keyset
 * cursor `after` in `Link` headers, the `filter` read by the real filter reader, an `ETag` and 304
 * to `If-None-Match` (unless `conditional` is off, to simulate a peer without it). Authentication
 * is left out: every requester is the same member.
 */
export class SimParticipant {
  readonly did: string
  readonly dspUrl: string
  readonly catalog: Catalog
  readonly datasets: DatasetDescription[] = []

  constructor(
    readonly index: number,
    readonly options: { datasets: number; conditional: boolean },
  ) {
    const host = `p${index}.sim`
    this.did = `did:web:${host}`
    this.dspUrl = `http://${host}/dsp`
    this.catalog = new Catalog({
      participantId: this.did,
      catalogId: `${this.dspUrl}/catalog`,
      service: { id: `${this.dspUrl}#data-service`, endpointURL: this.dspUrl },
      policies: fakePolicies(),
      dcat: {
        title: { en: `Participant ${index}` },
        description: { en: 'Simulated.' },
        publisher: { name: `Participant ${index}` },
        homepage: `http://${host}/`,
        base: `http://${host}/catalog/datasets/`,
        serviceTitle: { en: 'DSP' },
      },
    })
  }

  async fill(now: Date) {
    for (let k = 0; k < this.options.datasets; k++) {
      const dataset = generatedDataset(this.index * 10_000 + k, { modified: now.toISOString() })
      this.datasets.push(dataset)
      await this.catalog.publish(dataset, { kind: 'api' }, { now: now.getTime() })
    }
  }

  /** Changes one dataset: a new title with a word no other dataset has, modified now. */
  async change(k: number, token: string, now: Date) {
    const previous = this.datasets[k]!
    const dataset = { ...previous, title: { en: `Station series ${token}` }, modified: now.toISOString() }
    this.datasets[k] = dataset
    await this.catalog.publish(dataset, { kind: 'api' }, { now: now.getTime() })
    return dataset.id
  }

  handler(now: () => Date): SimHandler {
    const requestUrl = `${this.dspUrl}/catalog/request`
    return async ({ url, headers, body }) => {
      const filter = parseFilter((body as { filter?: unknown } | undefined)?.filter)
      if (!filter.ok)
        return {
          status: 400,
          headers: { 'content-type': 'application/json' },
          text: JSON.stringify({ '@type': 'CatalogError', code: '400', reason: [filter.message] }),
        }
      const q = url.searchParams
      const offset = Number(q.get('offset') ?? filter.paging.offset ?? 0)
      const limit = Number(q.get('limit') ?? filter.paging.limit ?? 100)
      const after = q.get('after') ?? undefined
      const page = await this.catalog.page({ requester: member, now: now(), filter: filter.filter, offset, limit, ...(after !== undefined ? { after } : {}) })
      const answer: Record<string, string> = { 'content-type': 'application/json' }
      if (offset + limit < page.total && page.last !== undefined)
        answer.link = `<${requestUrl}?offset=${offset + limit}&limit=${limit}&after=${encodeURIComponent(page.last)}>; rel="next"`
      if (this.options.conditional) {
        answer.etag = page.etag
        if (headers['if-none-match'] === page.etag) return { status: 304, headers: answer, text: '' }
      }
      return { status: 200, headers: answer, text: page.body }
    }
  }
}
