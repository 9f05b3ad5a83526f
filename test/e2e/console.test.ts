import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessibilityProblems, chromiumPath, launchBrowser } from '../support/browser.ts'
import { copyParticipant, freePort, management, startConnectorProcess, until, type ParticipantFolder } from '../support/processes.ts'

/**
 * The console in a real browser (chromium), against two connector processes: the consumer's
 * reader signs in, finds the provider's datasets, requests access, watches the negotiation end
 * FINALIZED, starts a transfer, sees a refusal with its reason, switches language and signs out.
 * Forms without their CSRF token, or without a session, are refused and change nothing. Every
 * page is checked with axe-core (no serious or critical violation).
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution
const temperature = 'urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253' // research-only
const env = { PASSERELLE_LOG_LEVEL: 'warn' }

if (!chromiumPath) console.warn('console browser tests skipped: no chromium found (apt-get install -y chromium, or set PASSERELLE_CHROMIUM)')

// A browser and axe on a shared two-core machine: each journey gets two minutes.
describe.skipIf(!chromiumPath)('the console in a browser, between two connector processes', { timeout: 120_000 }, () => {
  const cleanups: Array<() => unknown> = []
  let provider: ParticipantFolder
  let consumer: ParticipantFolder
  let browser: Browser

  beforeAll(async () => {
    const [providerPort, consumerPort] = [await freePort(), await freePort()]
    const did = (port: number) => `did:web:127.0.0.1%3A${port}`
    const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
    provider = await copyParticipant({ port: providerPort, config: { identity } })
    consumer = await copyParticipant({
      port: consumerPort,
      config: {
        identity,
        federation: { peers: [{ dspUrl: `${`http://127.0.0.1:${providerPort}`}/dsp/2025-1`, name: 'Arctic provider' }], interval: 600_000, jitter: 0 },
      },
    })
    cleanups.push(provider.remove, consumer.remove)
    const providerProcess = await startConnectorProcess(provider, { env })
    cleanups.push(() => providerProcess.stop('SIGKILL'))
    const consumerProcess = await startConnectorProcess(consumer, { env })
    cleanups.push(() => consumerProcess.stop('SIGKILL'))
    await until(async () => {
      const { body } = await management(consumer, 'GET', '/federated-catalog?q=sea%20ice')
      return body.total > 0 ? body : undefined
    })
    browser = await launchBrowser()
    cleanups.push(() => browser.close())
  })
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  const newContext = (language = 'en-CA') => browser.newContext({ locale: language, extraHTTPHeaders: { 'accept-language': language } })
  async function signIn(context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${consumer.url}/console`)
    await page.getByLabel(/Management key|Clé de gestion/).fill(consumer.managementKey)
    await page.getByRole('button', { name: /Sign in|Se connecter/ }).click()
    await page.waitForURL(`${consumer.url}/console`)
    return page
  }
  const expectAccessible = async (page: Page) => expect(await accessibilityProblems(page), page.url()).toEqual([])

  it('security: without a session every page leads to sign-in, and a wrong key is refused', async () => {
    const context = await newContext()
    const page = await context.newPage()
    await page.goto(`${consumer.url}/console/negotiations`)
    expect(new URL(page.url()).pathname).toBe('/console/sign-in')
    await expectAccessible(page)
    await page.getByLabel('Management key').fill('not-the-key')
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign in' }).click()])
    expect(answer.status()).toBe(401)
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not the management key')
    expect((await context.cookies()).some((c) => c.name === 'passerelle_console')).toBe(false)
    await context.close()
  })

  it('happy: signed in, the overview shows health, identity, counts and peers; the session cookie is httpOnly and SameSite=Strict', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview')
    const text = await page.locator('main').textContent()
    expect(text).toContain(consumer.did)
    expect(text).toContain('Ready')
    expect(text).toContain(`${provider.url}/dsp/2025-1`)
    const html = await page.content()
    expect(html).not.toContain(consumer.managementKey)
    const session = (await context.cookies()).find((c) => c.name === 'passerelle_console')!
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' })
    const response = await page.request.get(`${consumer.url}/console`)
    expect(response.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/)
    await expectAccessible(page)
    await context.close()
  })

  it('happy: search, request access, the negotiation reaches FINALIZED, a transfer starts; every page is accessible', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.getByRole('link', { name: 'Search the data space' }).click()
    await page.getByLabel('Words to look for').fill('sea ice')
    await page.getByRole('button', { name: 'Search' }).click()
    const hit = page.locator('article', { hasText: arctic })
    await expect(hit.textContent()).resolves.toContain('You may use it')
    await expectAccessible(page)
    await hit.getByRole('button', { name: /Request access/ }).click()
    await page.waitForURL(/\/console\/negotiations\/urn/)
    await page.locator('main:not([data-live]) .state', { hasText: 'FINALIZED' }).first().waitFor({ timeout: 20_000 })
    await expectAccessible(page)
    expect(await page.locator('main table').textContent()).toContain('FINALIZED')
    await page.getByRole('button', { name: 'Start a transfer' }).click()
    await page.waitForURL(/\/console\/transfers\/urn/)
    await page.locator('main:not([data-live]) .state', { hasText: 'STARTED' }).first().waitFor({ timeout: 20_000 })
    await expectAccessible(page)
    // Its progress as server-sent events, under the page's Content-Security-Policy: the state and
    // the bytes, then `done` once it no longer moves by itself (a pull waits for its download).
    const events = await page.evaluate(
      (url) =>
        new Promise<string[]>((resolve, reject) => {
          const seen: string[] = []
          const source = new (globalThis as any).EventSource(url)
          source.addEventListener('progress', (event: { data: string }) => seen.push(`progress ${event.data}`))
          source.addEventListener('done', () => {
            source.close()
            resolve([...seen, 'done'])
          })
          setTimeout(() => {
            source.close()
            reject(new Error(`no done event after: ${seen.join(' | ')}`))
          }, 15_000)
        }),
      `${new URL(page.url()).pathname}/events`,
    )
    expect(events[0]).toMatch(/^progress \{"state":"STARTED","value":0,/)
    expect(events.at(-1)).toBe('done')
    const anonymousEvents = await fetch(`${consumer.url}${new URL(page.url()).pathname}/events`, { redirect: 'manual' })
    expect(anonymousEvents.status).toBe(303)
    await page
      .getByRole('link', { name: /^urn:uuid:/ })
      .first()
      .click()
    await page.waitForURL(/\/console\/agreements\/urn/)
    await expect(page.locator('main').textContent()).resolves.toContain(provider.did)
    await expectAccessible(page)
    for (const path of ['/console/negotiations', '/console/transfers', '/console/agreements', '/console/datasets']) {
      await page.goto(`${consumer.url}${path}`)
      await expectAccessible(page)
    }
    await context.close()
  })

  it('error: a refused request shows the provider’s plain-language reason, on its page and in the overview', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.goto(`${consumer.url}/console/search?q=temperature`)
    await page
      .locator('article', { hasText: temperature })
      .getByRole('button', { name: /Request access/ })
      .first()
      .click()
    await page.waitForURL(/\/console\/negotiations\/urn/)
    await page.locator('main:not([data-live]) .state', { hasText: 'TERMINATED' }).first().waitFor({ timeout: 20_000 })
    await expect(page.locator('.problem .reason').textContent()).resolves.toMatch(/policy `research-only` \(“Research use only”\) not met/)
    await page.goto(`${consumer.url}/console`)
    await expect(page.locator('main').textContent()).resolves.toMatch(/policy `research-only` \(“Research use only”\) not met/)
    await context.close()
  })

  it('happy: an agreement’s audit history on its page, in French and English, without JavaScript; accessible', async () => {
    // An agreement of its own: requested through the management API, as a script would.
    const requested = await management(consumer, 'POST', '/negotiations', { peerUrl: `${provider.url}/dsp/2025-1`, datasetId: arctic })
    expect(requested.status).toBe(201)
    const agreementId = await until(async () => {
      const { body } = await management(consumer, 'GET', `/negotiations/${encodeURIComponent(requested.body.id)}`)
      return body.state === 'FINALIZED' ? (body.agreementId as string) : undefined
    })
    const started = await management(consumer, 'POST', '/transfers', { agreementId })
    expect(started.status).toBe(201)
    const history = await until(async () => {
      const { status, body } = await management(consumer, 'GET', `/agreements/${encodeURIComponent(agreementId)}/audit`)
      return status === 200 && body.items.some((r: { kind: string }) => r.kind.startsWith('transfer.')) ? body : undefined
    })

    const context = await browser.newContext({ locale: 'fr-CA', extraHTTPHeaders: { 'accept-language': 'fr-CA' }, javaScriptEnabled: false })
    const page = await signIn(context)
    await page.goto(`${consumer.url}/console/agreements/${encodeURIComponent(agreementId)}`)
    const section = page.getByRole('region', { name: 'Historique d’audit' })
    await expect(section.locator('p').first().textContent()).resolves.toContain('piste d’audit infalsifiable')
    const rows = section.locator('tbody tr')
    // Oldest first; records may have been added since the API was read.
    expect(await rows.count()).toBeGreaterThanOrEqual(history.items.length)
    const text = (await section.textContent()) ?? ''
    expect(text).toContain('Accord signé')
    expect(text).toContain('signé avec la clé de ce participant')
    expect(text).toMatch(/Transfert : \w+/)
    expect(text).toContain(`${history.items[0].hash.slice(0, 16)}…`)
    await context.close()

    // With scripts (axe runs in the page): the English words, and no serious violation in either language.
    const withScripts = await newContext()
    const english = await signIn(withScripts)
    await english.goto(`${consumer.url}/console/agreements/${encodeURIComponent(agreementId)}`)
    const englishText = (await english.getByRole('region', { name: 'Audit history' }).textContent()) ?? ''
    expect(englishText).toContain('Agreement signed')
    expect(englishText).toContain('signed with this participant’s key')
    await expectAccessible(english)
    await english.getByLabel('Language').selectOption('fr')
    await english.getByRole('button', { name: 'Change language' }).click()
    await english.getByRole('region', { name: 'Historique d’audit' }).waitFor()
    await expectAccessible(english)
    await withScripts.close()
  })

  it('happy: the language follows Accept-Language, the switch changes it, dates follow', async () => {
    const context = await newContext('fr-CA')
    const page = await context.newPage()
    await page.goto(`${consumer.url}/console/sign-in`)
    expect(await page.getAttribute('html', 'lang')).toBe('fr')
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Connexion')
    await page.close()
    const signedIn = await signIn(context)
    await expect(signedIn.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Vue d’ensemble')
    await expectAccessible(signedIn)
    await signedIn.getByLabel('Langue').selectOption('en')
    await signedIn.getByRole('button', { name: 'Changer de langue' }).click()
    await signedIn.waitForURL(`${consumer.url}/console`)
    await expect(signedIn.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview')
    expect(await signedIn.getAttribute('html', 'lang')).toBe('en')
    await context.close()
  })

  it('security: POSTs without the CSRF token, or without a session, are refused with 403 and change nothing', async () => {
    const context = await newContext()
    const page = await signIn(context)
    const before = (await management(consumer, 'GET', '/negotiations?limit=500')).body.items.length
    const form = { peerUrl: `${provider.url}/dsp/2025-1`, peerId: provider.did, datasetId: arctic }
    const withoutToken = await page.request.post(`${consumer.url}/console/negotiations`, { form })
    expect(withoutToken.status()).toBe(403)
    const wrongToken = await page.request.post(`${consumer.url}/console/negotiations`, { form: { ...form, csrf: 'A'.repeat(43) } })
    expect(wrongToken.status()).toBe(403)
    const noSession = await fetch(`${consumer.url}/console/negotiations`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    })
    expect(noSession.status).toBe(403)
    expect((await management(consumer, 'GET', '/negotiations?limit=500')).body.items.length).toBe(before)
    await context.close()
  })

  it('happy: sign out ends the session on the server (its cookie no longer opens a page)', async () => {
    const context = await newContext()
    const page = await signIn(context)
    const cookie = (await context.cookies()).find((c) => c.name === 'passerelle_console')!
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(/\/console\/sign-in/)
    await expect(page.getByRole('status').textContent()).resolves.toContain('signed out')
    const replay = await fetch(`${consumer.url}/console`, { headers: { cookie: `passerelle_console=${cookie.value}` }, redirect: 'manual' })
    expect(replay.status).toBe(303)
    expect(replay.headers.get('location')).toMatch(/^\/console\/sign-in/)
    await context.close()
  })
})
