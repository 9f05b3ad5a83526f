import type { Child } from 'hono/jsx'
import { liveScriptIntegrity } from '../assets.ts'
import type { MessageKey, Words } from '../i18n.ts'

/** What every page knows about the request it answers. */
export interface PageContext {
  words: Words
  /** The CSRF token the page's forms carry (the session's, or the anonymous double-submit one). */
  csrf: string
  signedIn: boolean
  /** The path (and query) of this page, to come back to after switching language. */
  path: string
}

const sections: Array<{ href: string; key: MessageKey }> = [
  { href: '/console', key: 'nav.overview' },
  { href: '/console/negotiations', key: 'nav.negotiations' },
  { href: '/console/transfers', key: 'nav.transfers' },
  { href: '/console/agreements', key: 'nav.agreements' },
  { href: '/console/datasets', key: 'nav.datasets' },
  { href: '/console/policies', key: 'nav.policies' },
  { href: '/console/preview', key: 'nav.preview' },
  { href: '/console/search', key: 'nav.search' },
]

export const CsrfField = ({ page }: { page: PageContext }) => <input type="hidden" name="csrf" value={page.csrf} />

/**
 * `live`: the page shows work under way; it is kept up to date by the console's script (from the
 * server's event stream `events` when given, by reading the page again otherwise) and, without
 * JavaScript, by the browser refreshing it every five seconds.
 */
export function Layout(props: { page: PageContext; title: string; live?: boolean; events?: string; children?: Child }) {
  const { page, title } = props
  const { words } = page
  const current = page.path.split('?')[0]
  return (
    <html lang={words.language}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · ${words.t('app.name')}`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        {props.live ? <script type="module" src="/console/assets/live.js" integrity={liveScriptIntegrity} /> : null}
        {props.live ? (
          <noscript>
            <meta http-equiv="refresh" content="5" />
          </noscript>
        ) : null}
      </head>
      <body>
        <a class="skip" href="#content">
          {words.t('skip.to.content')}
        </a>
        <header>
          <a class="brand" href="/console">
            {words.t('app.name')}
          </a>
          {page.signedIn ? (
            <nav aria-label={words.t('nav.label')}>
              <ul>
                {sections.map((s) => (
                  <li>
                    <a href={s.href} aria-current={current === s.href ? 'page' : undefined}>
                      {words.t(s.key)}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          <div class="tools">
            <form method="post" action="/console/language">
              <CsrfField page={page} />
              <input type="hidden" name="back" value={page.path} />
              <label for="language">{words.t('language.label')}</label>
              <select id="language" name="language">
                <option value="en" selected={words.language === 'en'} lang="en">
                  {words.t('language.en')}
                </option>
                <option value="fr" selected={words.language === 'fr'} lang="fr">
                  {words.t('language.fr')}
                </option>
              </select>
              <button type="submit" class="secondary">
                {words.t('language.switch')}
              </button>
            </form>
            {page.signedIn ? (
              <form method="post" action="/console/sign-out">
                <CsrfField page={page} />
                <button type="submit" class="secondary">
                  {words.t('signout.submit')}
                </button>
              </form>
            ) : null}
          </div>
        </header>
        <main id="content" data-live={props.live ? '' : undefined} data-events={props.live ? props.events : undefined}>
          <h1>{title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  )
}

/** A protocol state, shown as the protocol names it (the same word in every language). */
export const State = ({ state }: { state: string }) => <span class={`state state-${state}`}>{state}</span>

/** Previous / next links over an offset-paged list (the API gives pages, never a total). */
export function Pager(props: { page: PageContext; base: string; query: Record<string, string | undefined>; offset: number; limit: number; count: number }) {
  const { words } = props.page
  const link = (offset: number) => {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(props.query)) if (v) params.set(k, v)
    if (offset > 0) params.set('offset', String(offset))
    const q = params.toString()
    return q ? `${props.base}?${q}` : props.base
  }
  return (
    <nav class="pager" aria-label={words.t('paging.label')}>
      {props.offset > 0 ? <a href={link(Math.max(0, props.offset - props.limit))}>{words.t('paging.previous')}</a> : null}
      <span class="muted">
        {props.count > 0 ? words.t('paging.range', { from: words.number(props.offset + 1), to: words.number(props.offset + props.count) }) : ''}
      </span>
      {props.count >= props.limit ? <a href={link(props.offset + props.limit)}>{words.t('paging.next')}</a> : null}
    </nav>
  )
}

/** A timeline of state changes: who, what, when, why. */
export function Timeline(props: {
  page: PageContext
  entries: Array<{
    at: string
    actor?: string | null
    direction?: string | null
    kind?: string | null
    fromState?: string | null
    toState: string
    reason?: string | null
  }>
}) {
  const { words } = props.page
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{words.t('field.when')}</th>
          <th scope="col">{words.t('field.who')}</th>
          <th scope="col">{words.t('field.what')}</th>
          <th scope="col">{words.t('field.why')}</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((e) => (
          <tr>
            <td>{words.date(e.at)}</td>
            <td class="id">{e.actor ?? '—'}</td>
            <td>
              {e.kind ? <span class="muted">{`${e.kind}${e.direction ? ` (${e.direction})` : ''}: `}</span> : null}
              {e.fromState ? `${e.fromState} → ` : ''}
              <State state={e.toState} />
            </td>
            <td class={e.toState === 'TERMINATED' || e.toState === 'violated' ? 'reason' : ''}>{e.reason ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function Message(props: { page: PageContext; title: string; text: string; kind?: 'notice' | 'problem'; children?: Child }) {
  return (
    <Layout page={props.page} title={props.title}>
      <p class={props.kind ?? 'problem'} role={props.kind === 'notice' ? 'status' : 'alert'}>
        {props.text}
      </p>
      {props.children}
    </Layout>
  )
}
