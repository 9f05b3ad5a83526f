import type { SearchHit } from '../views.ts'
import { CsrfField, Layout, type PageContext, Pager } from './layout.tsx'

/** Federated search: what the peers offer, each offer with its terms and a button to ask for it. */
export function SearchPage({
  page,
  q,
  result,
  error,
}: {
  page: PageContext
  q: string
  result: { hits: SearchHit[]; total: number; offset: number; limit: number } | undefined
  error?: string
}) {
  const { words } = page
  return (
    <Layout page={page} title={words.t('search.title')}>
      <search>
        <form method="get" action="/console/search" class="filters">
          <div>
            <label for="q">{words.t('search.query')}</label>
            <input id="q" name="q" type="search" value={q} size={40} maxlength={200} />
          </div>
          <button type="submit">{words.t('search.submit')}</button>
        </form>
      </search>
      {error ? (
        <p class="problem" role="alert">
          {error}
        </p>
      ) : null}
      {result ? (
        <>
          <p role="status">{result.total ? words.t('search.results', { count: words.number(result.total) }) : words.t('search.none')}</p>
          {result.hits.map((hit, index) => (
            <article class="hit" aria-labelledby={`hit-${index}`}>
              <h2 id={`hit-${index}`}>{hit.title}</h2>
              <p class="muted">
                {words.t('search.from')} {hit.peer.name ?? hit.peer.participantId} · <span class="id">{hit.datasetId}</span>
                {hit.stale ? ` · ${words.t('search.stale')}` : ''}
              </p>
              {hit.description ? <p>{hit.description}</p> : null}
              {hit.offers.map((offer) => (
                <form method="post" action="/console/negotiations" class="filters">
                  <CsrfField page={page} />
                  <input type="hidden" name="peerUrl" value={hit.peer.dspUrl} />
                  <input type="hidden" name="peerId" value={hit.peer.participantId} />
                  <input type="hidden" name="datasetId" value={hit.datasetId} />
                  <input type="hidden" name="offerId" value={offer.id} />
                  <p>
                    <strong>{words.t('search.terms')}: </strong>
                    <span lang="en">{offer.summary}</span>
                  </p>
                  <button type="submit" aria-label={`${words.t('search.requestAccess')}: ${hit.title}`}>
                    {words.t('search.requestAccess')}
                  </button>
                </form>
              ))}
            </article>
          ))}
          <Pager page={page} base="/console/search" query={{ q }} offset={result.offset} limit={result.limit} count={result.hits.length} />
        </>
      ) : null}
    </Layout>
  )
}
