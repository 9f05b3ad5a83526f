import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessibilityProblems, chromiumPath, launchBrowser } from '../support/browser.ts'
import { copyParticipant, freePort, management, startConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * The data steward's pages in a real browser (chromium), against a connector process: the
 * policies with their plain text, lint results and tests, a request tried on a policy and refused
 * with its reason and trace, the catalog as another participant sees it (a members-only dataset
 * absent for a stranger, present for a member), in English and French; forms without their token
 * or session refused. Every page is checked with axe-core (no serious or critical violation).
 */
const wildfire = 'urn:uuid:d9c7c33d-9423-4f98-9122-8c84794feb94' // visible to members only
const env = { PASSERELLE_LOG_LEVEL: 'warn' }

if (!chromiumPath) console.warn('console steward browser tests skipped: no chromium found (apt-get install -y chromium, or set PASSERELLE_CHROMIUM)')

describe.skipIf(!chromiumPath)("the data steward's console pages in a browser", { timeout: 120_000 }, () => {
  const cleanups: Array<() => unknown> = []
  let connector: ParticipantFolder
  let browser: Browser

  beforeAll(async () => {
    connector = await copyParticipant({ port: await freePort() })
    cleanups.push(connector.remove)
    const process = await startConnectorProcess(connector, { env })
    cleanups.push(() => process.stop('SIGKILL'))
    browser = await launchBrowser()
    cleanups.push(() => browser.close())
  })
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  const newContext = (language = 'en-CA') => browser.newContext({ locale: language, extraHTTPHeaders: { 'accept-language': language } })
  async function signIn(context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${connector.url}/console`)
    await page.getByLabel(/Management key|Clé de gestion/).fill(connector.managementKey)
    await page.getByRole('button', { name: /Sign in|Se connecter/ }).click()
    await page.waitForURL(`${connector.url}/console`)
    return page
  }
  const expectAccessible = async (page: Page) => expect(await accessibilityProblems(page), page.url()).toEqual([])

  it('happy: the policies, then one in plain language with its lint results, the datasets using it and its tests run', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.getByRole('link', { name: 'Policies' }).click()
    await page.waitForURL(`${connector.url}/console/policies`)
    const list = await page.locator('main table').textContent()
    expect(list).toContain('members-only')
    expect(list).toContain('policies/research-only.yaml')
    await expectAccessible(page)
    await page.getByRole('link', { name: 'members-only' }).click()
    await page.waitForURL(/\/console\/policies\/members-only$/)
    await expect(page.locator('pre.plain').textContent()).resolves.toContain('Permitted')
    const main = await page.locator('main').textContent()
    expect(main).toContain('No problem found.')
    expect(main).toContain(wildfire)
    await page.getByRole('button', { name: 'Run the tests' }).click()
    await page.locator('#tests-result').waitFor()
    await expect(page.locator('#tests-result [role=status]').textContent()).resolves.toMatch(/^[1-9]\d* passed, 0 failed$/)
    expect(await page.locator('#tests-result table').textContent()).toContain('non-members do not even see the offer in the catalog')
    await expectAccessible(page)
    await context.close()
  })

  it('error: a request tried on a policy is refused with the reason naming the policy, and its trace tree', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.goto(`${connector.url}/console/policies/research-only`)
    await page.getByLabel('Participant (DID)').fill('did:web:shop.example')
    await page.getByLabel(/^Purpose/).fill('marketing')
    await page.getByLabel('Date and time (UTC)').fill('2026-06-01T12:00')
    await page.getByRole('button', { name: 'Decide' }).click()
    await page.locator('#result').waitFor()
    const result = page.locator('#result')
    await expect(result.locator('[role=status]').textContent()).resolves.toMatch(
      /^Refused purpose `marketing` is not a kind of `research`.*policy `research-only`/,
    )
    await expect(result.locator('ul.trace').first().textContent()).resolves.toMatch(/not met.*purpose isA/)
    // The form keeps what was typed, so the next try changes one thing.
    expect(await page.getByLabel('Participant (DID)').inputValue()).toBe('did:web:shop.example')
    await expectAccessible(page)
    await page.getByLabel(/^Purpose/).fill('climate-research')
    await page.getByRole('button', { name: 'Decide' }).click()
    await expect(page.locator('#result [role=status]').textContent()).resolves.toMatch(/^Allowed/)
    await context.close()
  })

  it('error: bad input is shown beside its field with 400, and the page stays usable', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.goto(`${connector.url}/console/policies/research-only`)
    await page.getByLabel('Participant (DID)').fill('not a did')
    await page.getByLabel(/^Credentials held/).fill('Member<script>')
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Decide' }).click()])
    expect(answer.status()).toBe(400)
    await expect(page.locator('#participant-error').textContent()).resolves.toMatch(/participant id/)
    await expect(page.locator('#credentials-error').textContent()).resolves.toMatch(/credential type/)
    expect(await page.getAttribute('#participant', 'aria-invalid')).toBe('true')
    expect(await page.locator('#result').count()).toBe(0)
    await expectAccessible(page)
    await context.close()
  })

  it('happy: the visibility preview: a stranger does not see the members-only dataset and is told why; a member sees it', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.getByRole('link', { name: 'Visibility preview' }).click()
    await page.getByLabel('Participant (DID)').fill('did:web:stranger.example')
    await page.getByRole('button', { name: 'Show what it sees' }).click()
    await page.locator('#result').waitFor()
    const stranger = await page.locator('#result').textContent()
    expect(stranger).toContain('did:web:stranger.example sees 4 datasets.')
    expect(stranger).not.toContain(wildfire)
    expect(stranger).toMatch(/members-only: .*members-only/)
    await expectAccessible(page)
    await page.getByLabel(/^Credentials held/).fill('MembershipCredential')
    await page.getByRole('button', { name: 'Show what it sees' }).click()
    await page.waitForURL(/credentials=MembershipCredential/)
    const member = await page.locator('#result').textContent()
    expect(member).toContain(wildfire)
    expect(member).toContain('No visibility policy refuses it.')
    await context.close()
  })

  it('happy: the policy and preview pages speak French', async () => {
    const context = await newContext('fr-CA')
    const page = await signIn(context)
    await page.goto(`${connector.url}/console/policies/research-only`)
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Politique: research-only')
    await page.getByLabel('Participant (DID)').fill('did:web:shop.example')
    await page.getByLabel(/^Finalité/).fill('marketing')
    await page.getByRole('button', { name: 'Décider' }).click()
    await expect(page.locator('#result [role=status]').textContent()).resolves.toMatch(/^Refusé/)
    await expectAccessible(page)
    await page.goto(`${connector.url}/console/preview?participant=did%3Aweb%3Astranger.example`)
    await expect(page.locator('#result h2').first().textContent()).resolves.toBe('did:web:stranger.example voit 4 jeux de données.')
    await expectAccessible(page)
    await context.close()
  })

  it('happy: publish a small file with a policy: listed among the datasets, then in the catalog a participant sees', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.getByRole('link', { name: 'Datasets' }).first().click()
    await page.getByRole('link', { name: 'Publish a dataset' }).click()
    await page.waitForURL(`${connector.url}/console/datasets/new`)
    await expectAccessible(page)
    await page.getByLabel('Title (English)').fill('Buoy readings')
    await page.getByLabel('Title (French)').fill('Relevés des bouées')
    await page.getByLabel('Description').fill('Readings of two buoys.')
    await page.getByLabel('Policy').selectOption('open-with-attribution')
    await page.getByLabel('Contact name').fill('Data desk')
    await page.getByLabel('Contact email').fill('data@example.org')
    await page
      .getByLabel('File', { exact: true })
      .setInputFiles({ name: 'buoy readings.csv', mimeType: 'text/csv', buffer: Buffer.from('buoy,temperature\nB1,4.5\n') })
    await page.getByRole('button', { name: 'Publish' }).click()
    await page.waitForURL(`${connector.url}/console/datasets`)
    const row = page.locator('main tr', { hasText: 'Buoy readings' })
    await expect(row.textContent()).resolves.toContain('open-with-attribution')
    const id = (await row.locator('td.id').textContent()) ?? ''
    expect(readFileSync(join(connector.dir, 'files/buoy-readings.csv'), 'utf8')).toBe('buoy,temperature\nB1,4.5\n')
    await page.goto(`${connector.url}/console/preview?participant=did%3Aweb%3Astranger.example`)
    expect(await page.locator('#result').textContent()).toContain(id)
    await expectAccessible(page)
    await context.close()
  })

  it('happy: publish a link to existing storage (an https URL with its size and checksum), in French', async () => {
    const context = await newContext('fr-CA')
    const page = await signIn(context)
    await page.goto(`${connector.url}/console/datasets/new`)
    await page.getByLabel('Titre (anglais)').fill('Tide gauge, linked')
    await page.getByLabel('Description').fill('Hourly water level.')
    await page.getByLabel('Politique').selectOption('research-only')
    await page.getByLabel('Nom du contact').fill('Data desk')
    await page.getByLabel('Courriel du contact').fill('data@example.org')
    await page.getByLabel('Adresse (URL)').fill('https://data.example/water-level.csv')
    await page.getByLabel(/^Taille en octets/).fill('412000')
    await page.getByLabel(/^SHA-256/).fill('3b1f6f0c2a9d4e8b7c5a1f2e3d4c5b6a79880716253443526170f8e9d0c1b2a3')
    await page.getByLabel(/^Type de média/).fill('text/csv')
    await page.getByRole('button', { name: 'Publier' }).click()
    await page.waitForURL(`${connector.url}/console/datasets`)
    await expect(page.locator('main tr', { hasText: 'Tide gauge, linked' }).textContent()).resolves.toContain('research-only')
    const listed = await management(connector, 'GET', '/datasets?limit=1000')
    const entry = listed.body.items.find((d: { description: { title: { en: string } } }) => d.description.title.en === 'Tide gauge, linked')
    expect(entry.description.distributions).toEqual([
      {
        mediaType: 'text/csv',
        url: 'https://data.example/water-level.csv',
        byteSize: 412000,
        sha256: '3b1f6f0c2a9d4e8b7c5a1f2e3d4c5b6a79880716253443526170f8e9d0c1b2a3',
      },
    ])
    await context.close()
  })

  it('error: publishing with a missing field shows it beside the field with 400 and leaves no file; without a token, 403', async () => {
    const context = await newContext()
    const page = await signIn(context)
    await page.goto(`${connector.url}/console/datasets/new`)
    await page.getByLabel('Title (English)').fill('Refused')
    // No description: the browser lets it through, the API's schema does not.
    await page.getByLabel('Contact name').fill('Data desk')
    await page.getByLabel('Contact email').fill('data@example.org')
    await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'refused.csv', mimeType: 'text/csv', buffer: Buffer.from('a\n1\n') })
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Publish' }).click()])
    expect(answer.status()).toBe(400)
    await expect(page.locator('#description-error').textContent()).resolves.toMatch(/non-empty/)
    expect(await page.getByLabel('Title (English)').inputValue()).toBe('Refused')
    expect(existsSync(join(connector.dir, 'files/refused.csv'))).toBe(false)
    await expectAccessible(page)
    const noToken = await page.request.post(`${connector.url}/console/datasets/new`, {
      multipart: { titleEn: 'x', upload: { name: 'sneaky.csv', mimeType: 'text/csv', buffer: Buffer.from('a') } },
    })
    expect(noToken.status()).toBe(403)
    expect(existsSync(join(connector.dir, 'files/sneaky.csv'))).toBe(false)
    await context.close()
  })

  it('security: the policy forms without their CSRF token, or without a session, are refused with 403', async () => {
    const context = await newContext()
    const page = await signIn(context)
    const form = { participant: 'did:web:shop.example', purpose: 'marketing' }
    expect((await page.request.post(`${connector.url}/console/policies/research-only/evaluate`, { form })).status()).toBe(403)
    expect((await page.request.post(`${connector.url}/console/policies/research-only/test`, { form: { csrf: 'A'.repeat(43) } })).status()).toBe(403)
    const noSession = await fetch(`${connector.url}/console/policies/research-only/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    })
    expect(noSession.status).toBe(403)
    const anonymousPreview = await fetch(`${connector.url}/console/preview?participant=did:web:a.example`, { redirect: 'manual' })
    expect(anonymousPreview.status).toBe(303)
    // What the console showed is the management API's own answer.
    const { body } = await management(connector, 'GET', '/catalog/preview?participant=did:web:stranger.example')
    expect(body.datasets.map((d: { id: string }) => d.id)).not.toContain(wildfire)
    await context.close()
  })
})
