import type { OutboxPeer, Peer } from '../views.ts'
import { Layout, type PageContext, State } from './layout.tsx'

export interface OverviewData {
  health: { status?: string; version?: string; database?: { dialect?: string; status?: string }; problems?: string[] }
  participant: { participantId: string; name: string; dspUrl: string; version: string } | undefined
  credentials: Array<{ id: string; types: string[]; issuer: string; expiresAt: string | null }> | undefined
  now: Date
  datasets: number | undefined
  peers: Peer[]
  negotiations: Record<string, number>
  transfers: Record<string, number>
  refusals: Array<{ href: string; at: string; what: string; counterparty: string | null; reason: string }>
  outbox: OutboxPeer[]
}

/** The operator's view: is it healthy, who is it, what does it hold, what was refused and why. */
export function OverviewPage({ page, data }: { page: PageContext; data: OverviewData }) {
  const { words } = page
  const count = (n: number) => words.number(n)
  const healthy = data.health.status === 'ok'
  return (
    <Layout page={page} title={words.t('overview.title')}>
      <div class="cards">
        <section class="card" aria-labelledby="health">
          <h2 id="health">{words.t('overview.health')}</h2>
          <p>
            <State state={healthy ? 'ok' : 'unavailable'} /> {healthy ? words.t('overview.health.ok') : words.t('overview.health.unavailable')}
          </p>
          {data.health.problems?.length ? (
            <ul class="reason">
              {data.health.problems.map((p) => (
                <li>{p}</li>
              ))}
            </ul>
          ) : null}
          <dl>
            <dt>{words.t('overview.database')}</dt>
            <dd>{`${data.health.database?.dialect ?? '—'} (${data.health.database?.status ?? '—'})`}</dd>
            <dt>{words.t('overview.version')}</dt>
            <dd>{data.health.version ?? '—'}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="identity">
          <h2 id="identity">{words.t('overview.identity')}</h2>
          {data.participant ? (
            <dl class="stacked">
              <dt>{words.t('overview.name')}</dt>
              <dd>{data.participant.name}</dd>
              <dt>{words.t('overview.participant')}</dt>
              <dd class="id">{data.participant.participantId}</dd>
              <dt>{words.t('overview.dspUrl')}</dt>
              <dd class="id">{data.participant.dspUrl}</dd>
            </dl>
          ) : null}
        </section>
        <section class="card" aria-labelledby="counts">
          <h2 id="counts">{words.t('overview.counts')}</h2>
          <dl>
            <dt>{words.t('overview.count.datasets')}</dt>
            <dd>{data.datasets === undefined ? '—' : words.number(data.datasets)}</dd>
            <dt>{words.t('overview.count.peers')}</dt>
            <dd>{words.number(data.peers.length)}</dd>
          </dl>
          <h3>{words.t('nav.negotiations')}</h3>
          <dl>
            {Object.entries(data.negotiations).map(([state, n]) => (
              <>
                <dt>
                  <a href={`/console/negotiations?state=${state}`}>{state}</a>
                </dt>
                <dd>{count(n)}</dd>
              </>
            ))}
          </dl>
          <h3>{words.t('nav.transfers')}</h3>
          <dl>
            {Object.entries(data.transfers).map(([state, n]) => (
              <>
                <dt>
                  <a href={`/console/transfers?state=${state}`}>{state}</a>
                </dt>
                <dd>{count(n)}</dd>
              </>
            ))}
          </dl>
        </section>
      </div>

      <h2>{words.t('overview.credentials')}</h2>
      {data.credentials?.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('overview.credential.type')}</th>
              <th scope="col">{words.t('overview.credential.issuer')}</th>
              <th scope="col">{words.t('overview.credential.validUntil')}</th>
              <th scope="col">{words.t('overview.credential.status')}</th>
            </tr>
          </thead>
          <tbody>
            {data.credentials.map((credential) => {
              const until = credential.expiresAt
              const valid = !until || new Date(until).getTime() > data.now.getTime()
              const types = credential.types.filter((t) => t !== 'VerifiableCredential').join(', ') || '—'
              return (
                <tr>
                  <td>{types}</td>
                  <td class="id">{credential.issuer}</td>
                  <td>{until ? words.date(until) : words.t('overview.credential.noExpiry')}</td>
                  <td>
                    <State state={valid ? 'valid' : 'expired'} /> {valid ? words.t('overview.credential.valid') : words.t('overview.credential.expired')}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      ) : (
        <p>{words.t('overview.credentials.none')}</p>
      )}

      <h2>{words.t('overview.refusals')}</h2>
      {data.refusals.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.when')}</th>
              <th scope="col">{words.t('field.what')}</th>
              <th scope="col">{words.t('field.counterparty')}</th>
              <th scope="col">{words.t('field.reason')}</th>
            </tr>
          </thead>
          <tbody>
            {data.refusals.map((r) => (
              <tr>
                <td>{words.date(r.at)}</td>
                <td>
                  <a href={r.href}>{r.what}</a>
                </td>
                <td class="id">{r.counterparty ?? '—'}</td>
                <td class="reason">{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('overview.refusals.none')}</p>
      )}

      <h2>{words.t('overview.outbox')}</h2>
      {data.outbox.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.peer')}</th>
              <th scope="col">{words.t('field.inFlight')}</th>
              <th scope="col">{words.t('field.failures')}</th>
              <th scope="col">{words.t('field.circuit')}</th>
              <th scope="col">{words.t('field.lastError')}</th>
            </tr>
          </thead>
          <tbody>
            {data.outbox.map((o) => (
              <tr>
                <td class="id">{o.peerAddress}</td>
                <td class="num">{words.number(o.inFlight)}</td>
                <td class="num">{words.number(o.consecutiveFailures)}</td>
                <td>{o.circuit}</td>
                <td>{o.lastError ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('overview.outbox.none')}</p>
      )}
      {data.peers.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{words.t('field.peer')}</th>
              <th scope="col">{words.t('overview.dspUrl')}</th>
              <th scope="col">{words.t('field.lastCrawl')}</th>
              <th scope="col">{words.t('field.lastError')}</th>
            </tr>
          </thead>
          <tbody>
            {data.peers.map((p) => (
              <tr>
                <td>{p.name ?? p.id}</td>
                <td class="id">{p.dspUrl}</td>
                <td>{words.date(p.lastSuccessAt ?? null)}</td>
                <td>{p.lastError ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>{words.t('overview.peers.none')}</p>
      )}
    </Layout>
  )
}
