import { Layout, type PageContext, Pager } from './layout.tsx'

/** A dataset as the management API lists it (the fields shown here). */
export interface DatasetEntry {
  id: string
  updatedAt?: string
  description?: { title?: unknown; policies?: string[]; publisher?: { name?: string }; modified?: string }
}

/** The steward's datasets, with the policies their offers are made of. */
export function DatasetsPage({ page, list }: { page: PageContext; list: { items: DatasetEntry[]; total: number; offset: number; limit: number } }) {
  const { words } = page
  const text = (value: unknown) => {
    if (typeof value === 'string') return value
    if (value && typeof value === 'object') {
      const map = value as Record<string, string>
      return map[words.language] ?? map.en ?? Object.values(map)[0] ?? ''
    }
    return ''
  }
  return (
    <Layout page={page} title={words.t('datasets.title')}>
      <p>
        {words.t('datasets.intro')} {words.t('overview.count.datasets')}: {words.number(list.total)}
      </p>
      <p>
        <a href="/console/datasets/new">{words.t('publish.title')}</a>
      </p>
      {list.items.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.title')}</th>
              <th scope="col">{words.t('field.id')}</th>
              <th scope="col">{words.t('field.policy')}</th>
              <th scope="col">{words.t('field.publisher')}</th>
              <th scope="col">{words.t('field.updated')}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((d) => (
              <tr>
                <td>{text(d.description?.title)}</td>
                <td class="id">{d.id}</td>
                <td>{(d.description?.policies ?? []).join(', ')}</td>
                <td>{d.description?.publisher?.name ?? ''}</td>
                <td>{words.date(d.updatedAt ?? d.description?.modified ?? null)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('list.empty')}</p>
      )}
      <Pager page={page} base="/console/datasets" query={{}} offset={list.offset} limit={list.limit} count={list.items.length} />
    </Layout>
  )
}
