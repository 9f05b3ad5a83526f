import type { Context } from 'hono'
import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { streamSSE } from 'hono/streaming'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { Child } from 'hono/jsx'
import { summarizeOffer } from '../../catalog/index.ts'
import type { Ctx } from '../context.ts'
import type { AppEnv } from '../http/env.ts'
import { liveScript, stylesheet } from './assets.ts'
import { chooseLanguage, languages, type Language, type MessageKey, type Words, wordsFor } from './i18n.ts'
import { type InProcessRequest, type ManagementClient, managementClient } from './management-client.ts'
import { AgreementPage, AgreementsPage } from './pages/agreements.tsx'
import { DatasetsPage } from './pages/datasets.tsx'
import { Message, type PageContext } from './pages/layout.tsx'
import { type OverviewData, OverviewPage } from './pages/overview.tsx'
import { negotiationStates } from '../dsp/negotiation-messages.ts'
import { transferStates } from '../dsp/transfer-messages.ts'
import { NegotiationPage, NegotiationsPage, TransferPage, TransfersPage, transferIsLive, transferProgress } from './pages/processes.tsx'
import { type FormState, PolicyPage, PoliciesPage } from './pages/policies.tsx'
import { PreviewPage } from './pages/preview.tsx'
import { PublishPage } from './pages/publish.tsx'
import { MultipartError, readMultipart } from './multipart.ts'
import { SearchPage } from './pages/search.tsx'
import { SignInPage } from './pages/sign-in.tsx'
import type { CatalogPreview, EvaluateAnswer, PolicyDetail, PolicyList, PolicyTestRun } from './views.ts'
import type { Agreement, AuditHistory, Negotiation, NegotiationDetail, Obligations, OutboxPeer, Peer, SearchHit, Transfer, TransferDetail } from './views.ts'
import type { DatasetEntry } from './pages/datasets.tsx'
import { createSessions, newToken, type Session, type SessionOptions, sameToken } from './sessions.ts'

type ConsoleEnv = AppEnv & {
  Variables: AppEnv['Variables'] & {
    words: Words
    session: Session | undefined
    sessionId: string | undefined
    /** The token the anonymous forms carry (double-submit: the same value in an httpOnly cookie). */
    anonymousCsrf: string
    form: Record<string, string>
  }
}

const cookies = { session: 'passerelle_console', csrf: 'passerelle_console_csrf', language: 'passerelle_console_language' }
/** Forms are a few fields; anything larger is not one of ours. */
const maxFormBytes = 16 * 1024
const pageSize = 20
const publishPath = '/console/datasets/new'
/** Audit records shown on an agreement's page, oldest first; the API and `passerelle audit export` give them all. */
const auditShown = 100
/** How long one event stream of a transfer's progress lasts at most (the page's script then reads the page again). */
const eventStreamSeconds = 600
/** Failed sign-ins allowed per minute (all addresses together) before sign-in answers 429 for a while. */
const signInFailuresPerMinute = 20

/**
 * The console under /console: server-rendered pages over the management API, which they call
 * in-process with the signed-in reader's key. Sign-in exchanges the key for a server-side
 * session (httpOnly, SameSite=Strict cookie); every form carries a CSRF token; answers carry a
 * strict Content-Security-Policy; the key is never rendered.
 */
export function consoleRoutes(options: { ctx: Ctx; request: InProcessRequest; sessions?: Omit<SessionOptions, 'clock'> }) {
  const { ctx, request } = options
  const sessions = createSessions({ clock: ctx.clock, ...options.sessions })
  const app = new Hono<ConsoleEnv>()
  const secure = (c: Context) => ctx.config.server.publicUrl.startsWith('https:') || new URL(c.req.url).protocol === 'https:'
  const cookieOptions = (c: Context) => ({ path: '/console', httpOnly: true, sameSite: 'Strict' as const, secure: secure(c) })
  let failures: number[] = []

  app.use('/console/*', async (c, next) => {
    await next()
    c.header(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    c.header('x-content-type-options', 'nosniff')
    c.header('referrer-policy', 'no-referrer')
    c.header('x-frame-options', 'DENY')
    if (!c.req.path.startsWith('/console/assets/')) c.header('cache-control', 'no-store')
  })

  // Who is asking, in which language, with which tokens.
  app.use('/console/*', async (c, next) => {
    const chosen = getCookie(c, cookies.language)
    c.set('words', wordsFor(chooseLanguage(chosen, c.req.header('accept-language'))))
    const sessionId = getCookie(c, cookies.session)
    c.set('sessionId', sessionId)
    c.set('session', sessions.find(sessionId))
    let anonymous = getCookie(c, cookies.csrf)
    if (!anonymous || !/^[\w-]{43}$/.test(anonymous)) {
      anonymous = newToken()
      setCookie(c, cookies.csrf, anonymous, cookieOptions(c))
    }
    c.set('anonymousCsrf', anonymous)
    await next()
  })

  const pageOf = (c: Context<ConsoleEnv>): PageContext => {
    const session = c.get('session')
    const url = new URL(c.req.url)
    return { words: c.get('words'), csrf: session?.csrf ?? c.get('anonymousCsrf'), signedIn: session !== undefined, path: `${url.pathname}${url.search}` }
  }
  const render = (c: Context<ConsoleEnv>, node: Child, status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 502 | 503 = 200) =>
    c.html(`<!DOCTYPE html>${String(node)}`, status)
  const refuse = (c: Context<ConsoleEnv>, key: MessageKey, status: 403 | 413 = 403) => {
    const page = pageOf(c)
    return render(c, <Message page={page} title={page.words.t('forbidden.title')} text={page.words.t(key)} />, status)
  }
  const apiOf = (c: Context<ConsoleEnv>): ManagementClient => managementClient(request, c.get('session')!.key, c.get('requestId'))
  /** An answer of the API that is not a success, shown as it is (its status, its message). */
  const failed = (c: Context<ConsoleEnv>, answer: { status: number; error?: string }) => {
    const page = pageOf(c)
    const status = ([400, 401, 403, 404, 409, 429, 502, 503] as const).find((s) => s === answer.status) ?? 500
    const title = status === 404 ? page.words.t('error.notFound') : page.words.t('error.title')
    return render(
      c,
      <Message page={page} title={title} text={answer.error ?? `HTTP ${answer.status}`}>
        <p>
          <a href="/console">{page.words.t('error.back')}</a>
        </p>
      </Message>,
      status,
    )
  }

  // Declared or streamed, a form body larger than ours is refused before it is parsed.
  const formLimit = bodyLimit({ maxSize: maxFormBytes, onError: (c) => refuse(c as Context<ConsoleEnv>, 'forbidden.csrf', 413) })
  // Unsafe methods: a form of ours (size, CSRF token) from a signed-in reader; otherwise 403 and nothing changes.
  const anonymousForms = new Set(['/console/sign-in', '/console/language'])
  app.use('/console/*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      if (!c.get('session') && !anonymousForms.has(c.req.path) && !c.req.path.startsWith('/console/assets/')) {
        return c.redirect(c.get('sessionId') ? '/console/sign-in?expired=1' : '/console/sign-in', 303)
      }
      return next()
    }
    if (c.req.method !== 'POST') return refuse(c, 'forbidden.csrf')
    // The publish form carries a file: it is read as it streams by its route (fields bounded, the file by the upload limit).
    if (c.req.path === publishPath) return next()
    return formLimit(c, next)
  })
  app.use('/console/*', async (c, next) => {
    if (c.req.method !== 'POST') return next()
    if (c.req.path === publishPath) return c.get('session') ? next() : refuse(c, 'forbidden.session')
    const type = c.req.header('content-type') ?? ''
    let form: Record<string, string> = {}
    if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
      const body = await c.req.parseBody()
      form = Object.fromEntries(Object.entries(body).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
    }
    const session = c.get('session')
    if (!session && !anonymousForms.has(c.req.path)) return refuse(c, 'forbidden.session')
    if (!sameToken(session?.csrf ?? c.get('anonymousCsrf'), form.csrf)) return refuse(c, 'forbidden.csrf')
    c.set('form', form)
    return next()
  })

  app.get('/console/assets/console.css', (c) => {
    c.header('cache-control', 'public, max-age=3600')
    return c.body(stylesheet, 200, { 'content-type': 'text/css; charset=utf-8' })
  })
  app.get('/console/assets/live.js', (c) => {
    c.header('cache-control', 'public, max-age=3600')
    return c.body(liveScript, 200, { 'content-type': 'text/javascript; charset=utf-8' })
  })

  app.get('/console/sign-in', (c) => {
    if (c.get('session')) return c.redirect('/console', 303)
    const page = pageOf(c)
    const notice =
      c.req.query('out') !== undefined ? page.words.t('signout.done') : c.req.query('expired') !== undefined ? page.words.t('signin.expired') : undefined
    return render(c, <SignInPage page={page} {...(notice ? { notice } : {})} />)
  })

  app.post('/console/sign-in', async (c) => {
    const page = pageOf(c)
    const now = ctx.clock.now().getTime()
    failures = failures.filter((at) => now - at < 60_000)
    if (failures.length >= signInFailuresPerMinute) return render(c, <SignInPage page={page} error={page.words.t('signin.wrong')} />, 429)
    const key = c.get('form').key ?? ''
    if (key.length === 0 || key.length > 1024) return render(c, <SignInPage page={page} error={page.words.t('signin.wrong')} />, 400)
    // The key is checked by the management API itself: the same door every client goes through.
    const answer = await managementClient(request, key, c.get('requestId')).get('/participant')
    if (!answer.ok) {
      failures.push(now)
      const disabled = answer.status === 401 && /disabled/.test(answer.error ?? '')
      return render(c, <SignInPage page={page} error={page.words.t(disabled ? 'signin.disabled' : 'signin.wrong')} />, 401)
    }
    sessions.end(c.get('sessionId'))
    const { id } = sessions.create(key)
    setCookie(c, cookies.session, id, cookieOptions(c))
    c.get('logger').info('console: signed in')
    return c.redirect('/console', 303)
  })

  app.post('/console/sign-out', (c) => {
    sessions.end(c.get('sessionId'))
    deleteCookie(c, cookies.session, cookieOptions(c))
    return c.redirect('/console/sign-in?out=1', 303)
  })

  app.post('/console/language', (c) => {
    const { language, back } = c.get('form')
    if (language && (languages as readonly string[]).includes(language)) {
      setCookie(c, cookies.language, language as Language, { ...cookieOptions(c), maxAge: 365 * 24 * 3600 })
    }
    // Back to a page of the console only (never an address someone else chose).
    const target = back && /^\/console(?:[/?]|$)/.test(back) && !back.includes('\\') ? back : '/console'
    return c.redirect(target, 303)
  })

  app.get('/console', async (c) => {
    const api = apiOf(c)
    const countStates = async (path: string) => {
      const answer = await api.get<{ byState: Record<string, number> }>(path)
      return answer.ok ? answer.body.byState : {}
    }
    const [health, participant, credentials, datasets, peers, outbox, negotiations, transfers, refusedNegotiations, refusedTransfers] = await Promise.all([
      api.open<OverviewData['health']>('/health'),
      api.get<NonNullable<OverviewData['participant']>>('/participant'),
      api.get<{ credentials: NonNullable<OverviewData['credentials']> }>('/credentials'),
      api.get<{ total: number }>('/datasets?limit=1'),
      api.get<{ peers: Peer[] }>('/peers'),
      api.get<{ peers: OutboxPeer[] }>('/outbox/peers'),
      countStates('/negotiations/counts'),
      countStates('/transfers/counts'),
      api.get<{ items: Negotiation[] }>('/negotiations?state=TERMINATED&limit=5'),
      api.get<{ items: Transfer[] }>('/transfers?state=TERMINATED&limit=5'),
    ])
    const refusals = [
      ...(refusedNegotiations.body?.items ?? []).map((n) => ({
        href: `/console/negotiations/${encodeURIComponent(n.id)}`,
        at: n.updatedAt,
        what: `${c.get('words').t('negotiation.title')} · ${n.datasetId}`,
        counterparty: n.counterpartyId,
        reason: n.reason ?? '',
      })),
      ...(refusedTransfers.body?.items ?? []).map((t) => ({
        href: `/console/transfers/${encodeURIComponent(t.id)}`,
        at: t.updatedAt,
        what: `${c.get('words').t('transfer.title')} · ${t.datasetId ?? t.id}`,
        counterparty: t.counterpartyId,
        reason: t.reason ?? '',
      })),
    ]
      .sort((a, b) => String(b.at).localeCompare(String(a.at)))
      .slice(0, 5)
    const data: OverviewData = {
      health: health.body ?? {},
      participant: participant.ok ? participant.body : undefined,
      credentials: credentials.ok ? credentials.body.credentials : undefined,
      now: ctx.clock.now(),
      datasets: datasets.ok ? datasets.body.total : undefined,
      peers: peers.ok ? peers.body.peers : [],
      outbox: outbox.ok ? outbox.body.peers : [],
      negotiations,
      transfers,
      refusals,
    }
    return render(c, <OverviewPage page={pageOf(c)} data={data} />)
  })

  /** Filters and paging of a list page, read leniently: what is not one of ours is left out. */
  const listQuery = (c: Context<ConsoleEnv>, states: readonly string[]) => {
    const state = c.req.query('state')
    const role = c.req.query('role')
    const offset = Math.min(Math.max(0, Math.floor(Number(c.req.query('offset') ?? 0)) || 0), 1_000_000)
    return {
      state: state && states.includes(state) ? state : undefined,
      role: role === 'provider' || role === 'consumer' ? role : undefined,
      offset,
      limit: pageSize,
    }
  }
  const queryString = (q: Record<string, string | number | undefined>) =>
    new URLSearchParams(Object.entries(q).flatMap(([k, v]) => (v === undefined || v === '' ? [] : [[k, String(v)] as [string, string]]))).toString()

  app.get('/console/negotiations', async (c) => {
    const q = listQuery(c, negotiationStates)
    const answer = await apiOf(c).get<{ items: Negotiation[] }>(`/negotiations?${queryString(q)}`)
    if (!answer.ok) return failed(c, answer)
    return render(c, <NegotiationsPage page={pageOf(c)} list={{ ...q, items: answer.body.items }} />)
  })

  app.get('/console/negotiations/:id', async (c) => {
    const answer = await apiOf(c).get<NegotiationDetail>(`/negotiations/${encodeURIComponent(c.req.param('id'))}`)
    if (!answer.ok) return failed(c, answer)
    return render(c, <NegotiationPage page={pageOf(c)} negotiation={answer.body} />)
  })

  app.post('/console/negotiations', async (c) => {
    const { peerUrl, peerId, datasetId, offerId } = c.get('form')
    const answer = await apiOf(c).post<Negotiation>('/negotiations', { peerUrl, datasetId, ...(peerId ? { peerId } : {}), ...(offerId ? { offerId } : {}) })
    if (!answer.ok) return failed(c, answer)
    return c.redirect(`/console/negotiations/${encodeURIComponent(answer.body.id)}`, 303)
  })

  app.get('/console/transfers', async (c) => {
    const q = listQuery(c, transferStates)
    const answer = await apiOf(c).get<{ items: Transfer[] }>(`/transfers?${queryString(q)}`)
    if (!answer.ok) return failed(c, answer)
    return render(c, <TransfersPage page={pageOf(c)} list={{ ...q, items: answer.body.items }} />)
  })

  app.get('/console/transfers/:id', async (c) => {
    const answer = await apiOf(c).get<TransferDetail>(`/transfers/${encodeURIComponent(c.req.param('id'))}`)
    if (!answer.ok) return failed(c, answer)
    return render(c, <TransferPage page={pageOf(c)} transfer={answer.body} />)
  })

  // A running transfer's progress as server-sent events: the transfer is read through the API once
  // a second and sent when it changed; `done` when it no longer runs by itself (the page then reads
  // itself again). Bounded in time, and ended when the connector stops.
  app.get('/console/transfers/:id/events', (c) => {
    const api = apiOf(c)
    const words = c.get('words')
    const path = `/transfers/${encodeURIComponent(c.req.param('id'))}`
    return streamSSE(c, async (stream) => {
      let last = ''
      for (let tick = 0; tick < eventStreamSeconds && !stream.aborted && !ctx.stopping?.aborted; tick++) {
        const answer = await api.get<Transfer>(path)
        if (!answer.ok) return void (await stream.writeSSE({ event: 'done', data: '{}' }))
        const data = JSON.stringify(transferProgress(words, answer.body))
        if (data !== last) await stream.writeSSE({ event: 'progress', data })
        last = data
        if (!transferIsLive(answer.body)) return void (await stream.writeSSE({ event: 'done', data }))
        await stream.sleep(1000)
      }
    })
  })

  // The received data, streamed from the management API's download as it comes.
  app.get('/console/transfers/:id/data', async (c) => {
    const response = await request(`/management/v1/transfers/${encodeURIComponent(c.req.param('id'))}/data`, {
      method: 'GET',
      headers: { authorization: `Bearer ${c.get('session')!.key}` },
    })
    if (!response.ok || !response.body) {
      const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined
      return failed(c, { status: response.status, error: body?.error?.message ?? `HTTP ${response.status}` })
    }
    const headers = new Headers({ 'content-disposition': 'attachment; filename="data"' })
    for (const name of ['content-type', 'content-length', 'x-content-sha256']) {
      const value = response.headers.get(name)
      if (value) headers.set(name, value)
    }
    return new Response(response.body, { status: 200, headers })
  })

  app.post('/console/transfers', async (c) => {
    const { agreementId } = c.get('form')
    const answer = await apiOf(c).post<Transfer>('/transfers', { agreementId })
    if (!answer.ok) return failed(c, answer)
    return c.redirect(`/console/transfers/${encodeURIComponent(answer.body.id)}`, 303)
  })

  app.get('/console/agreements', async (c) => {
    const q = listQuery(c, [])
    const answer = await apiOf(c).get<{ items: Agreement[] }>(`/agreements?${queryString({ offset: q.offset, limit: q.limit })}`)
    if (!answer.ok) return failed(c, answer)
    return render(c, <AgreementsPage page={pageOf(c)} list={{ items: answer.body.items, offset: q.offset, limit: q.limit }} />)
  })

  app.get('/console/agreements/:id', async (c) => {
    const api = apiOf(c)
    const id = encodeURIComponent(c.req.param('id'))
    const [agreement, duties, audit] = await Promise.all([
      api.get<Agreement>(`/agreements/${id}`),
      api.get<Obligations>(`/agreements/${id}/obligations`),
      api.get<AuditHistory>(`/agreements/${id}/audit?limit=${auditShown + 1}`),
    ])
    if (!agreement.ok) return failed(c, agreement)
    let terms = ''
    try {
      terms = summarizeOffer(agreement.body as Parameters<typeof summarizeOffer>[0])
    } catch {
      terms = ''
    }
    return render(
      c,
      <AgreementPage
        page={pageOf(c)}
        agreement={agreement.body}
        terms={terms}
        duties={duties.ok ? duties.body : undefined}
        audit={audit.ok ? { items: audit.body.items.slice(0, auditShown), more: audit.body.items.length > auditShown } : undefined}
      />,
    )
  })

  app.get('/console/datasets', async (c) => {
    const q = listQuery(c, [])
    const answer = await apiOf(c).get<{ items: DatasetEntry[]; total: number; offset: number; limit: number }>(
      `/datasets?${queryString({ offset: q.offset, limit: q.limit })}`,
    )
    if (!answer.ok) return failed(c, answer)
    return render(c, <DatasetsPage page={pageOf(c)} list={answer.body} />)
  })

  // Publishing: a file is streamed to the management API's upload route first (it measures it), then
  // the dataset naming it is created; if the API refuses the dataset, the file is removed again.
  const publishForm = async (c: Context<ConsoleEnv>, form: FormState, status: 200 | 400 | 409 | 413 = 200) => {
    const policies = await apiOf(c).get<PolicyList>('/policies')
    if (!policies.ok) return failed(c, policies)
    return render(c, <PublishPage page={pageOf(c)} form={form} policies={policies.body.items} />, status)
  }
  const publishFields = [
    'titleEn',
    'titleFr',
    'description',
    'policy',
    'license',
    'contactName',
    'contactEmail',
    'url',
    'byteSize',
    'sha256',
    'bucket',
    'key',
    'mediaType',
  ]

  app.get(publishPath, (c) => publishForm(c, { values: { license: 'https://creativecommons.org/licenses/by/4.0/' }, errors: {} }))

  app.post(publishPath, async (c) => {
    const type = c.req.header('content-type') ?? ''
    const body = c.req.raw.body
    let read: Awaited<ReturnType<typeof readMultipart>>
    try {
      if (!body) throw new MultipartError('no form')
      if (type.startsWith('multipart/form-data')) read = await readMultipart(body, type, maxFormBytes)
      else if (type.startsWith('application/x-www-form-urlencoded')) {
        const text = await new Response(body).text()
        if (text.length > maxFormBytes) return refuse(c, 'forbidden.csrf', 413)
        read = { fields: Object.fromEntries(new URLSearchParams(text)) }
      } else throw new MultipartError('not a form')
    } catch (error) {
      if (error instanceof MultipartError) return refuse(c, 'forbidden.csrf', /too large/.test(error.message) ? 413 : 403)
      throw error
    }
    // The token is checked before a byte of the file goes anywhere.
    if (!sameToken(c.get('session')!.csrf, read.fields.csrf)) {
      await read.file?.stream.cancel()
      return refuse(c, 'forbidden.csrf')
    }
    const values = formValues(read.fields, publishFields)
    const api = apiOf(c)
    let distribution: Record<string, unknown>
    let uploaded: string | undefined
    if (read.file) {
      // The browser's file name, made a plain one (spaces and the like become dashes); the API checks it again.
      const name = (read.file.filename.split(/[\\/]/).pop() ?? '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '')
      const received = await api.upload<Record<string, unknown>>(`/files/${encodeURIComponent(name)}`, read.file.stream)
      if (!received.ok) {
        await read.file.stream.cancel().catch(() => undefined)
        const status = received.status === 413 || received.status === 409 ? received.status : 400
        return publishForm(c, { values, errors: { upload: received.error ?? `HTTP ${received.status}` } }, status)
      }
      uploaded = name
      distribution = received.body
    } else {
      const mediaType = values.mediaType || 'application/octet-stream'
      distribution =
        values.bucket || values.key
          ? { mediaType, s3: { bucket: values.bucket ?? '', key: values.key ?? '' } }
          : {
              mediaType,
              url: values.url ?? '',
              ...optional('byteSize', values.byteSize ? Number(values.byteSize) : undefined),
              ...optional('sha256', values.sha256),
            }
    }
    const participant = await api.get<{ id: string; name: string }>('/participant')
    const today = ctx.clock.now().toISOString().slice(0, 10)
    const text = (en: string | undefined, fr: string | undefined) => (fr ? { en: en ?? '', fr } : { en: en ?? '' })
    const dataset = {
      id: `urn:uuid:${randomUUID()}`,
      title: text(values.titleEn, values.titleFr),
      description: { en: values.description ?? '' },
      publisher: { name: participant.ok ? participant.body.name : ctx.config.participant.name },
      contactPoint: { name: values.contactName ?? '', email: values.contactEmail ?? '' },
      license: values.license ?? '',
      issued: today,
      modified: today,
      distributions: [distribution],
      policies: [values.policy ?? ''],
    }
    const created = await api.post<{ id: string }>('/datasets', dataset)
    if (created.ok) return c.redirect('/console/datasets', 303)
    // Nothing is left of a refused publication: the file goes too.
    if (uploaded) await api.delete(`/files/${encodeURIComponent(uploaded)}`)
    if (created.status !== 400) return failed(c, created)
    const errors = fieldErrors(created, {
      title: 'titleEn',
      description: 'description',
      policies: 'policy',
      license: 'license',
      contactPoint: 'contactEmail',
      distributions: uploaded ? 'upload' : values.bucket || values.key ? 'bucket' : 'url',
    })
    return publishForm(c, { values, errors }, 400)
  })

  app.get('/console/search', async (c) => {
    const q = (c.req.query('q') ?? '').slice(0, 200)
    const offset = listQuery(c, []).offset
    if (c.req.query('q') === undefined) return render(c, <SearchPage page={pageOf(c)} q="" result={undefined} />)
    const answer = await apiOf(c).get<{ hits: SearchHit[]; total: number; offset: number; limit: number }>(
      `/federated-catalog?${queryString({ q, offset, limit: 10 })}`,
    )
    if (!answer.ok) return render(c, <SearchPage page={pageOf(c)} q={q} result={undefined} error={answer.error ?? ''} />, 400)
    return render(c, <SearchPage page={pageOf(c)} q={q} result={answer.body} />)
  })

  // The steward's policies: read, tested and tried through the management API's policy routes.
  app.get('/console/policies', async (c) => {
    const answer = await apiOf(c).get<PolicyList>('/policies')
    if (!answer.ok) return failed(c, answer)
    return render(c, <PoliciesPage page={pageOf(c)} list={answer.body} />)
  })

  const policyPath = (c: Context<ConsoleEnv>) => `/policies/${encodeURIComponent(c.req.param('id') ?? '')}`
  const noForm: FormState = { values: {}, errors: {} }

  app.get('/console/policies/:id', async (c) => {
    const policy = await apiOf(c).get<PolicyDetail>(policyPath(c))
    if (!policy.ok) return failed(c, policy)
    return render(c, <PolicyPage page={pageOf(c)} policy={policy.body} form={noForm} />)
  })

  app.post('/console/policies/:id/test', async (c) => {
    const api = apiOf(c)
    const policy = await api.get<PolicyDetail>(policyPath(c))
    if (!policy.ok) return failed(c, policy)
    const run = await api.post<PolicyTestRun>(`${policyPath(c)}/test`)
    if (!run.ok) return failed(c, run)
    return render(c, <PolicyPage page={pageOf(c)} policy={policy.body} form={noForm} tests={run.body} />)
  })

  app.post('/console/policies/:id/evaluate', async (c) => {
    const api = apiOf(c)
    const policy = await api.get<PolicyDetail>(policyPath(c))
    if (!policy.ok) return failed(c, policy)
    const values = formValues(c.get('form'), ['participant', 'purpose', 'region', 'industry', 'date', 'credentials', 'scope'])
    const body = {
      participant: values.participant ?? '',
      ...optional('purpose', oneOrMany(splitList(values.purpose))),
      ...optional('spatial', oneOrMany(splitList(values.region))),
      ...optional('industry', oneOrMany(splitList(values.industry))),
      ...optional('date', values.date ? utc(values.date) : undefined),
      ...optional('scope', values.scope),
      credentials: splitList(values.credentials).map((type) => ({ type })),
    }
    const answer = await api.post<EvaluateAnswer>(`${policyPath(c)}/evaluate`, body)
    if (answer.status === 400) {
      const form = {
        values,
        errors: fieldErrors(answer, {
          participant: 'participant',
          purpose: 'purpose',
          spatial: 'region',
          industry: 'industry',
          date: 'date',
          credentials: 'credentials',
          scope: 'scope',
        }),
      }
      return render(c, <PolicyPage page={pageOf(c)} policy={policy.body} form={form} />, 400)
    }
    if (!answer.ok) return failed(c, answer)
    return render(c, <PolicyPage page={pageOf(c)} policy={policy.body} form={{ values, errors: {} }} decision={answer.body} />)
  })

  // What one participant sees of this catalog: a reading, so a GET form (bookmarkable, no token needed).
  app.get('/console/preview', async (c) => {
    const values = formValues(c.req.query(), ['participant', 'credentials'])
    if (values.participant === undefined) return render(c, <PreviewPage page={pageOf(c)} form={noForm} />)
    const query = new URLSearchParams({ participant: values.participant, offset: String(listQuery(c, []).offset), limit: String(pageSize) })
    for (const type of splitList(values.credentials)) query.append('credential', type)
    const answer = await apiOf(c).get<CatalogPreview>(`/catalog/preview?${query}`)
    if (answer.status === 400) {
      const form = {
        values,
        errors: fieldErrors(answer, { participant: 'participant', credential: 'credentials', offset: 'participant', limit: 'participant' }),
      }
      return render(c, <PreviewPage page={pageOf(c)} form={form} />, 400)
    }
    if (!answer.ok) return failed(c, answer)
    return render(c, <PreviewPage page={pageOf(c)} form={{ values, errors: {} }} preview={answer.body} />)
  })

  app.all('/console/*', (c) => failed(c, { status: 404, error: c.get('words').t('error.notFound') }))
  app.onError((error, c) => {
    c.get('logger').error('console page failed', { path: c.req.path, error: (error as Error).message, stack: (error as Error).stack })
    return failed(c, { status: 500, error: c.get('words')?.t('error.title') ?? 'error' })
  })
  return app
}

/** The named fields of a form or query, trimmed and bounded (absent stays absent). */
function formValues(source: Record<string, string | undefined>, names: string[]): Record<string, string> {
  const values: Record<string, string> = {}
  for (const name of names) {
    const value = source[name]
    if (typeof value === 'string') values[name] = value.trim().slice(0, 2048)
  }
  return values
}

/** "a, b c" → ["a", "b", "c"]: a form field that takes several values. */
const splitList = (value: string | undefined) => (value ?? '').split(/[\s,]+/).filter(Boolean)
const oneOrMany = (values: string[]) => (values.length === 0 ? undefined : values.length === 1 ? values[0] : values)
const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, V>))

/** A date and time typed in the form is UTC (the page says so): `2026-06-01T12:00` → `2026-06-01T12:00:00Z`; anything else goes to the API as typed. */
function utc(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return `${value}:00Z`
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value)) return `${value}Z`
  return value
}

/** The API's complaints, beside the form fields they are about (`fields`: the API's name → the form's); the rest is said above the form. */
function fieldErrors(answer: { error?: string; issues?: Array<{ path: string; message: string }> }, fields: Record<string, string>): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const issue of answer.issues ?? []) {
    const field = fields[issue.path.split('.')[0] ?? ''] ?? '_form'
    errors[field] ??= issue.message.replace(/^Invalid input: /, '')
  }
  if (Object.keys(errors).length === 0) errors._form = answer.error ?? 'HTTP 400'
  return errors
}
