import type { Negotiation, NegotiationDetail, Transfer, TransferDetail } from '../views.ts'
import type { Child } from 'hono/jsx'
import type { MessageKey, Words } from '../i18n.ts'
import { CsrfField, Layout, type PageContext, Pager, State, Timeline } from './layout.tsx'
import { negotiationStates } from '../../dsp/negotiation-messages.ts'
import { transferStates } from '../../dsp/transfer-messages.ts'

/** Negotiations and transfers: paged lists with filters, and a detail page with the timeline. */

export interface ListView<T> {
  items: T[]
  offset: number
  limit: number
  state: string | undefined
  role: string | undefined
}

function Filters(props: { page: PageContext; action: string; states: readonly string[]; state?: string | undefined; role?: string | undefined }) {
  const { words } = props.page
  return (
    <form method="get" action={props.action} class="filters">
      <div>
        <label for="state">{words.t('filter.state')}</label>
        <select id="state" name="state">
          <option value="">{words.t('filter.any')}</option>
          {props.states.map((s) => (
            <option value={s} selected={props.state === s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="role">{words.t('filter.role')}</label>
        <select id="role" name="role">
          <option value="">{words.t('filter.any')}</option>
          <option value="provider" selected={props.role === 'provider'}>
            {words.t('role.provider')}
          </option>
          <option value="consumer" selected={props.role === 'consumer'}>
            {words.t('role.consumer')}
          </option>
        </select>
      </div>
      <button type="submit">{words.t('filter.apply')}</button>
    </form>
  )
}

const roleWord = (page: PageContext, role: string) => (role === 'provider' ? page.words.t('role.provider') : page.words.t('role.consumer'))

/** What one row of a process list shows; the two lists differ only in these. */
interface ProcessRow {
  id: string
  label: string
  state: string
  role: string
  counterparty: string
  updatedAt: string
  reason: string | null | undefined
  /** Cells of the list's extra columns, in order. */
  extra?: Child[]
}

/** A paged list of negotiations or transfers, filtered by state and role. */
function ProcessListPage(props: {
  page: PageContext
  title: MessageKey
  base: string
  states: readonly string[]
  list: ListView<unknown>
  rows: ProcessRow[]
  extraColumns?: Array<{ header: MessageKey; numeric?: boolean }>
}) {
  const { page, list, base } = props
  const { words } = page
  return (
    <Layout page={page} title={words.t(props.title)}>
      <Filters page={page} action={base} states={props.states} state={list.state} role={list.role} />
      {props.rows.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.dataset')}</th>
              <th scope="col">{words.t('field.state')}</th>
              <th scope="col">{words.t('field.role')}</th>
              <th scope="col">{words.t('field.counterparty')}</th>
              {(props.extraColumns ?? []).map((c) => (
                <th scope="col">{words.t(c.header)}</th>
              ))}
              <th scope="col">{words.t('field.updated')}</th>
              <th scope="col">{words.t('field.reason')}</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr>
                <td>
                  <a class="id" href={`${base}/${encodeURIComponent(r.id)}`}>
                    {r.label}
                  </a>
                </td>
                <td>
                  <State state={r.state} />
                </td>
                <td>{roleWord(page, r.role)}</td>
                <td class="id">{r.counterparty}</td>
                {(r.extra ?? []).map((cell, i) => (
                  <td class={props.extraColumns?.[i]?.numeric ? 'num' : undefined}>{cell}</td>
                ))}
                <td>{words.date(r.updatedAt)}</td>
                <td class="reason">{r.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('list.empty')}</p>
      )}
      <Pager page={page} base={base} query={{ state: list.state, role: list.role }} offset={list.offset} limit={list.limit} count={props.rows.length} />
    </Layout>
  )
}

export const NegotiationsPage = ({ page, list }: { page: PageContext; list: ListView<Negotiation> }) => (
  <ProcessListPage
    page={page}
    title="negotiations.title"
    base="/console/negotiations"
    states={negotiationStates}
    list={list}
    rows={list.items.map((n) => ({
      id: n.id,
      label: n.datasetId,
      state: n.state,
      role: n.role,
      counterparty: n.counterpartyId ?? n.counterpartyAddress,
      updatedAt: n.updatedAt,
      reason: n.reason,
    }))}
  />
)

const finalNegotiation = (state: string) => state === 'FINALIZED' || state === 'TERMINATED'

export function NegotiationPage({ page, negotiation: n }: { page: PageContext; negotiation: NegotiationDetail }) {
  const { words } = page
  const live = !finalNegotiation(n.state)
  return (
    <Layout page={page} title={`${words.t('negotiation.title')}: ${n.datasetId}`} live={live}>
      <p role="status" aria-live="polite">
        {words.t('field.state')}: <State state={n.state} />
        {live ? <span class="muted"> {words.t('negotiation.waiting')}</span> : null}
      </p>
      {n.state === 'TERMINATED' && n.reason ? (
        <p class="problem">
          <strong>{words.t('negotiation.refused')}: </strong>
          <span class="reason">{n.reason}</span>
        </p>
      ) : null}
      {n.state === 'FINALIZED' && n.agreementId ? (
        <div class="notice">
          <p>
            {words.t('negotiation.agreementMade')}{' '}
            <a class="id" href={`/console/agreements/${encodeURIComponent(n.agreementId)}`}>
              {n.agreementId}
            </a>
          </p>
          {n.role === 'consumer' ? (
            <form method="post" action="/console/transfers">
              <CsrfField page={page} />
              <input type="hidden" name="agreementId" value={n.agreementId} />
              <button type="submit">{words.t('negotiation.startTransfer')}</button>
            </form>
          ) : null}
        </div>
      ) : null}
      <dl>
        <dt>{words.t('field.id')}</dt>
        <dd class="id">{n.id}</dd>
        <dt>{words.t('field.role')}</dt>
        <dd>{roleWord(page, n.role)}</dd>
        <dt>{words.t('field.counterparty')}</dt>
        <dd class="id">{n.counterpartyId ?? n.counterpartyAddress}</dd>
        <dt>{words.t('field.dataset')}</dt>
        <dd class="id">{n.datasetId}</dd>
        <dt>{words.t('field.offer')}</dt>
        <dd class="id">{n.offerId}</dd>
        <dt>{words.t('field.created')}</dt>
        <dd>{words.date(n.createdAt)}</dd>
        <dt>{words.t('field.updated')}</dt>
        <dd>{words.date(n.updatedAt)}</dd>
      </dl>
      <h2>{words.t('negotiation.timeline')}</h2>
      <Timeline page={page} entries={n.timeline ?? []} />
    </Layout>
  )
}

export const TransfersPage = ({ page, list }: { page: PageContext; list: ListView<Transfer> }) => (
  <ProcessListPage
    page={page}
    title="transfers.title"
    base="/console/transfers"
    states={transferStates}
    list={list}
    extraColumns={[{ header: 'field.bytes', numeric: true }]}
    rows={list.items.map((t) => ({
      id: t.id,
      label: t.datasetId ?? t.id,
      state: t.state,
      role: t.role,
      counterparty: t.counterpartyId,
      updatedAt: t.updatedAt,
      reason: t.reason,
      extra: [page.words.bytes(t.bytesMoved)],
    }))}
  />
)

/** Whether a transfer is still moving on by itself (requested, or a push under way): its page follows it. */
export const transferIsLive = (t: Pick<Transfer, 'state' | 'format'>) => t.state === 'REQUESTED' || (t.state === 'STARTED' && t.format === 'HttpData-PUSH')

/** A transfer's progress as its page shows it, and as its event stream sends it to the page. */
export function transferProgress(words: Words, t: Pick<Transfer, 'state' | 'bytesMoved' | 'size'>) {
  const moved = Number(t.bytesMoved ?? 0)
  return {
    state: t.state,
    value: t.size ? Math.min(moved, t.size) : moved,
    max: t.size ?? null,
    moved: `${words.bytes(moved)}${t.size ? ` / ${words.bytes(t.size)}` : ''}`,
  }
}

export function TransferPage({ page, transfer: t }: { page: PageContext; transfer: TransferDetail }) {
  const { words } = page
  const live = transferIsLive(t)
  const progress = transferProgress(words, t)
  return (
    <Layout
      page={page}
      title={`${words.t('transfer.title')}: ${t.datasetId ?? t.id}`}
      live={live}
      events={`/console/transfers/${encodeURIComponent(t.id)}/events`}
    >
      <p role="status" aria-live="polite">
        {words.t('field.state')}:{' '}
        <span class={`state state-${t.state}`} data-field="state">
          {t.state}
        </span>
        {live ? <span class="muted"> {words.t('transfer.running')}</span> : null}
      </p>
      {t.state === 'TERMINATED' && t.reason ? (
        <p class="problem">
          <strong>{words.t('negotiation.refused')}: </strong>
          <span class="reason">{t.reason}</span>
        </p>
      ) : null}
      <h2>{words.t('transfer.progress')}</h2>
      <p>
        {t.size ? (
          <progress id="progress" max={t.size} value={progress.value} aria-label={words.t('transfer.progress')}>
            {progress.moved}
          </progress>
        ) : null}{' '}
        <span data-field="moved">{progress.moved}</span>
      </p>
      {t.role === 'consumer' && t.format === 'HttpData-PULL' && t.state === 'STARTED' ? (
        <p>
          <a href={`/console/transfers/${encodeURIComponent(t.id)}/data`}>{words.t('transfer.download')}</a>
        </p>
      ) : null}
      <dl>
        <dt>{words.t('field.id')}</dt>
        <dd class="id">{t.id}</dd>
        <dt>{words.t('field.role')}</dt>
        <dd>{roleWord(page, t.role)}</dd>
        <dt>{words.t('field.counterparty')}</dt>
        <dd class="id">{t.counterpartyId}</dd>
        <dt>{words.t('field.agreement')}</dt>
        <dd>
          <a class="id" href={`/console/agreements/${encodeURIComponent(t.agreementId)}`}>
            {t.agreementId}
          </a>
        </dd>
        <dt>{words.t('field.format')}</dt>
        <dd>{t.format}</dd>
        <dt>{words.t('field.accesses')}</dt>
        <dd>{words.number(Number(t.accessCount ?? 0))}</dd>
        <dt>{words.t('field.created')}</dt>
        <dd>{words.date(t.createdAt)}</dd>
      </dl>
      <h2>{words.t('negotiation.timeline')}</h2>
      <Timeline page={page} entries={t.timeline ?? []} />
      {t.accesses?.length ? (
        <>
          <h2>{words.t('transfer.accesses')}</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">{words.t('field.when')}</th>
                <th scope="col">{words.t('field.status')}</th>
                <th scope="col">{words.t('field.bytes')}</th>
                <th scope="col">{words.t('field.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {t.accesses.map((a) => (
                <tr>
                  <td>{words.date(a.at)}</td>
                  <td>{a.status}</td>
                  <td class="num">{words.bytes(a.bytes)}</td>
                  <td>{a.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </Layout>
  )
}
