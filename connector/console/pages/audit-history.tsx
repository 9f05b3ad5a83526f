import type { MessageKey, Words } from '../i18n.ts'
import type { AuditRecord } from '../views.ts'
import { type PageContext, State } from './layout.tsx'

/**
 * An agreement's records in the audit trail, oldest first: what was decided, signed, started and
 * read under it, each with the start of its chained hash (the whole record is in the API).
 */
export function AuditHistory({
  page,
  agreementId,
  audit,
}: {
  page: PageContext
  agreementId: string
  audit: { items: AuditRecord[]; more: boolean } | undefined
}) {
  const { words } = page
  return (
    <section aria-labelledby="audit-history">
      <h2 id="audit-history">{words.t('audit.title')}</h2>
      {audit?.items.length ? (
        <>
          <p class="muted">{words.t('audit.intro')}</p>
          <table>
            <thead>
              <tr>
                <th scope="col">{words.t('audit.seq')}</th>
                <th scope="col">{words.t('field.when')}</th>
                <th scope="col">{words.t('field.who')}</th>
                <th scope="col">{words.t('field.what')}</th>
                <th scope="col">{words.t('audit.detail')}</th>
                <th scope="col">{words.t('audit.hash')}</th>
              </tr>
            </thead>
            <tbody>
              {audit.items.map((r) => (
                <tr>
                  <td>{words.number(r.seq)}</td>
                  <td>{words.date(r.at)}</td>
                  <td class="id">{r.actor}</td>
                  <td>{kindLabel(words, r.kind)}</td>
                  <td>
                    <Detail words={words} payload={r.payload} />
                  </td>
                  <td>
                    <code>{`${r.hash.slice(0, 16)}…`}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {audit.more ? (
            <p>
              {words.t('audit.more', { count: words.number(audit.items.length) })}{' '}
              <code>{`GET /management/v1/agreements/${encodeURIComponent(agreementId)}/audit`}</code>
            </p>
          ) : null}
        </>
      ) : (
        <p>{words.t('audit.none')}</p>
      )}
    </section>
  )
}

const kindLabel = (words: Words, kind: string): string => {
  const fixed: Record<string, MessageKey> = { agreement: 'audit.kind.agreement', 'data.access': 'audit.kind.dataAccess', 'data.sent': 'audit.kind.dataSent' }
  if (fixed[kind]) return words.t(fixed[kind])
  const [area, step] = kind.split(/\.(.*)/s)
  if (step && area === 'negotiation') return words.t('audit.kind.negotiation', { step })
  if (step && area === 'transfer') return words.t('audit.kind.transfer', { step })
  return kind
}

/** The parts of a record's payload a reader acts on; the rest stays in the API's answer. */
function Detail({ words, payload }: { words: Words; payload: Record<string, unknown> }) {
  const text = (key: string) => (typeof payload[key] === 'string' ? (payload[key] as string) : undefined)
  const from = text('from')
  const to = text('to')
  const status = text('status')
  const reason = text('reason')
  const sha256 = text('sha256')
  const bytes = typeof payload.bytes === 'number' ? payload.bytes : undefined
  return (
    <ul class="plain">
      {to ? (
        <li>
          {from ? `${from} → ` : ''}
          <State state={to} />
        </li>
      ) : null}
      {status ? <li>{words.t('audit.status', { status })}</li> : null}
      {bytes !== undefined ? <li>{words.bytes(bytes)}</li> : null}
      {reason ? (
        <li lang={words.language === 'en' ? undefined : 'en'} class={to === 'TERMINATED' ? 'reason' : undefined}>
          {reason}
        </li>
      ) : null}
      {sha256 ? (
        <li>
          SHA-256 <code>{`${sha256.slice(0, 16)}…`}</code>
        </li>
      ) : null}
      {typeof payload.signature === 'string' ? <li>{words.t('audit.signed')}</li> : null}
    </ul>
  )
}
