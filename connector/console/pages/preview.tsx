import type { CatalogPreview } from '../views.ts'
import { Layout, type PageContext, Pager } from './layout.tsx'
import { Field, type FormState, FormProblem } from './policies.tsx'

/** "What does participant X see in my catalog?": the datasets and offers it sees, and what refuses it the rest. */
export function PreviewPage({ page, form, preview }: { page: PageContext; form: FormState; preview?: CatalogPreview }) {
  const { words } = page
  const text = (value: CatalogPreview['datasets'][number]['title']) =>
    value === undefined ? '' : typeof value === 'string' ? value : (value[words.language] ?? value.en ?? Object.values(value)[0] ?? '')
  return (
    <Layout page={page} title={words.t('preview.title')}>
      <p>{words.t('preview.intro')}</p>
      <FormProblem page={page} form={form} />
      <form method="get" action="/console/preview" class="filters">
        <Field page={page} form={form} name="participant" label="field.participant" required />
        <Field page={page} form={form} name="credentials" label="field.credentials" />
        <button type="submit">{words.t('preview.submit')}</button>
      </form>
      {preview ? (
        <section aria-labelledby="sees" id="result">
          <h2 id="sees">{words.t('preview.sees', { participant: preview.participant, count: words.number(preview.total) })}</h2>
          {preview.datasets.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">{words.t('field.title')}</th>
                  <th scope="col">{words.t('field.id')}</th>
                  <th scope="col">{words.t('field.offers')}</th>
                </tr>
              </thead>
              <tbody>
                {preview.datasets.map((d) => (
                  <tr>
                    <td>{text(d.title)}</td>
                    <td class="id">{d.id}</td>
                    <td>
                      {d.offers.map((o, i) => (
                        <>
                          {i > 0 ? ', ' : ''}
                          {o.policy ? (
                            <a href={`/console/policies/${encodeURIComponent(o.policy)}`} class="id">
                              {o.policy}
                            </a>
                          ) : (
                            <span class="id">{o.id}</span>
                          )}
                        </>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <Pager
            page={page}
            base="/console/preview"
            query={{ participant: form.values.participant, credentials: form.values.credentials }}
            offset={preview.offset}
            limit={preview.limit}
            count={preview.datasets.length}
          />
          <h2>{words.t('preview.refused')}</h2>
          {preview.refused.length ? (
            <ul>
              {preview.refused.map((r) => (
                <li>
                  <a href={`/console/policies/${encodeURIComponent(r.policy)}`} class="id">
                    {r.policy}
                  </a>
                  {': '}
                  <span class="reason" lang="en">
                    {r.reason}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p>{words.t('preview.refused.none')}</p>
          )}
        </section>
      ) : null}
    </Layout>
  )
}
