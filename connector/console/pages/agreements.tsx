import type { Agreement, AuditRecord, Obligations } from '../views.ts'
import { AuditHistory } from './audit-history.tsx'
import { Layout, type PageContext, Pager, State, Timeline } from './layout.tsx'

/** Agreements: the list, and one agreement with its terms in plain language, obligations and usage. */

export function AgreementsPage({ page, list }: { page: PageContext; list: { items: Agreement[]; offset: number; limit: number } }) {
  const { words } = page
  return (
    <Layout page={page} title={words.t('agreements.title')}>
      {list.items.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.agreement')}</th>
              <th scope="col">{words.t('field.dataset')}</th>
              <th scope="col">{words.t('field.role')}</th>
              <th scope="col">{words.t('field.assigner')}</th>
              <th scope="col">{words.t('field.assignee')}</th>
              <th scope="col">{words.t('field.signed')}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((a) => (
              <tr>
                <td>
                  <a class="id" href={`/console/agreements/${encodeURIComponent(a['@id'])}`}>
                    {a['@id']}
                  </a>
                </td>
                <td class="id">{a.target}</td>
                <td>{a.role === 'provider' ? words.t('role.provider') : words.t('role.consumer')}</td>
                <td class="id">{a.assigner}</td>
                <td class="id">{a.assignee}</td>
                <td>{words.date(a.timestamp)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('list.empty')}</p>
      )}
      <Pager page={page} base="/console/agreements" query={{}} offset={list.offset} limit={list.limit} count={list.items.length} />
    </Layout>
  )
}

export function AgreementPage({
  page,
  agreement: a,
  terms,
  duties,
  audit,
}: {
  page: PageContext
  agreement: Agreement
  terms: string
  duties: Obligations | undefined
  audit: { items: AuditRecord[]; more: boolean } | undefined
}) {
  const { words } = page
  return (
    <Layout page={page} title={`${words.t('agreement.title')}: ${a['@id']}`}>
      <p class="notice">
        <span lang="en">{terms}</span>
      </p>
      <dl>
        <dt>{words.t('field.dataset')}</dt>
        <dd class="id">{a.target}</dd>
        <dt>{words.t('field.assigner')}</dt>
        <dd class="id">{a.assigner}</dd>
        <dt>{words.t('field.assignee')}</dt>
        <dd class="id">{a.assignee}</dd>
        <dt>{words.t('field.signed')}</dt>
        <dd>{words.date(a.timestamp)}</dd>
        <dt>{words.t('field.policy')}</dt>
        <dd>{duties?.policy ?? '—'}</dd>
        <dt>{words.t('field.usage')}</dt>
        <dd>{duties ? words.number(duties.accessCount) : '—'}</dd>
        <dt>{words.t('nav.negotiations')}</dt>
        <dd>
          <a class="id" href={`/console/negotiations/${encodeURIComponent(a.negotiationId)}`}>
            {a.negotiationId}
          </a>
        </dd>
      </dl>
      <h2>{words.t('agreement.obligations')}</h2>
      {duties?.items?.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.obligation')}</th>
              <th scope="col">{words.t('field.what')}</th>
              <th scope="col">{words.t('field.checkedBy')}</th>
              <th scope="col">{words.t('field.status')}</th>
              <th scope="col">{words.t('field.reason')}</th>
            </tr>
          </thead>
          <tbody>
            {duties.items.map((o) => (
              <tr>
                <td class="id">{o.id}</td>
                <td lang="en">{o.text ?? o.action}</td>
                <td>{o.checkedBy}</td>
                <td>
                  <State state={o.status} />
                </td>
                <td>{o.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('agreement.obligations.none')}</p>
      )}
      {duties?.timeline?.length ? (
        <Timeline
          page={page}
          entries={duties.timeline.map((e) => ({
            at: e.at,
            actor: e.actor,
            kind: e.obligationId,
            fromState: e.fromStatus,
            toState: e.toStatus,
            reason: e.reason,
          }))}
        />
      ) : null}
      <AuditHistory page={page} agreementId={a['@id']} audit={audit} />
    </Layout>
  )
}
