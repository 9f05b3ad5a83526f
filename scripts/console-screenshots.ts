/**
 * Regenerates the console's screenshots in docs/console/: starts two connectors (the seed
 * participant twice, on free ports of 127.0.0.1), lets the consumer find the provider's datasets,
 * then signs in to the consumer's console in chromium, requests access to one dataset (agreed)
 * and one it does not qualify for (refused), and photographs the main pages (the agreement with its
 * audit history among them); then, on the provider's console, the steward's policies, a request
 * tried on one (refused), the catalog as a stranger sees it, the datasets and the publish form.
 *   node scripts/build.js && node --import tsx scripts/console-screenshots.ts
 */
import { mkdirSync } from 'node:fs'
import { fromRoot } from '../connector/paths.ts'
import { chromiumPath, launchBrowser } from '../test/support/browser.ts'
import { copyParticipant, freePort, management, startConnectorProcess, until } from '../test/support/processes.ts'

const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
const temperature = 'urn:uuid:37b4f568-20c5-486a-abff-1eaa42633253'
if (!chromiumPath) throw new Error('no chromium found: apt-get install -y chromium (or set PASSERELLE_CHROMIUM)')

const out = fromRoot('docs/console')
mkdirSync(out, { recursive: true })
const [providerPort, consumerPort] = [await freePort(), await freePort()]
const did = (port: number) => `did:web:127.0.0.1%3A${port}`
const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
const provider = await copyParticipant({ port: providerPort, config: { identity, participant: { id: did(providerPort), name: 'Arctic Data Centre' } } })
const consumer = await copyParticipant({
  port: consumerPort,
  config: {
    identity,
    federation: { peers: [{ dspUrl: `http://127.0.0.1:${providerPort}/dsp/2025-1`, name: 'Arctic Data Centre' }], interval: 600_000, jitter: 0 },
  },
})
const env = { PASSERELLE_LOG_LEVEL: 'warn' }
const processes = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
const browser = await launchBrowser()
try {
  await until(async () => ((await management(consumer, 'GET', '/federated-catalog?q=sea%20ice')).body.total > 0 ? true : undefined))
  for (const language of ['en', 'fr'] as const) {
    const context = await browser.newContext({ locale: language, extraHTTPHeaders: { 'accept-language': language }, viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    const shot = (name: string) => page.screenshot({ path: `${out}/${name}${language === 'en' ? '' : '.fr'}.png`, fullPage: true })
    await page.goto(`${consumer.url}/console`)
    await shot('sign-in')
    await page.locator('#key').fill(consumer.managementKey)
    await page.locator('form[action="/console/sign-in"] button').click()
    await page.waitForURL(`${consumer.url}/console`)
    if (language === 'en') {
      await page.goto(`${consumer.url}/console/search?q=temperature`)
      await page.locator('article', { hasText: temperature }).locator('button').first().click()
      await page.locator('main:not([data-live]) .state').first().waitFor({ timeout: 20_000 })
      await page.goto(`${consumer.url}/console/search?q=sea%20ice`)
      await shot('search')
      await page.locator('article', { hasText: arctic }).locator('button').first().click()
      await page.locator('main:not([data-live]) .state', { hasText: 'FINALIZED' }).first().waitFor({ timeout: 20_000 })
      await shot('negotiation')
      await page.locator('form[action="/console/transfers"] button').click()
      await page.locator('main:not([data-live]) .state', { hasText: 'STARTED' }).first().waitFor({ timeout: 20_000 })
      await shot('transfer')
      await page.locator('a[href^="/console/agreements/"]').first().click()
      await page.locator('#audit-history').waitFor()
      await shot('agreement')
      await page.goto(`${consumer.url}/console/negotiations`)
      await shot('negotiations')
    }
    // The steward's pages, on the provider (the same key in the seed): a request tried on a policy, and a stranger's view.
    await page.goto(`${provider.url}/console`)
    await page.locator('#key').fill(provider.managementKey)
    await page.locator('form[action="/console/sign-in"] button').click()
    await page.waitForURL(`${provider.url}/console`)
    await page.goto(`${provider.url}/console/policies`)
    await shot('policies')
    await page.goto(`${provider.url}/console/policies/research-only`)
    await page.locator('#participant').fill('did:web:shop.example')
    await page.locator('#purpose').fill('marketing')
    await page.locator('form[action$="/evaluate"] button').click()
    await page.locator('#result').waitFor()
    await shot('policy')
    await page.goto(`${provider.url}/console/preview?participant=${encodeURIComponent('did:web:stranger.example')}`)
    await shot('preview')
    await page.goto(`${provider.url}/console/datasets`)
    await shot('datasets')
    await page.goto(`${provider.url}/console/datasets/new`)
    await shot('publish')
    await page.goto(`${consumer.url}/console`)
    await shot('overview')
    await context.close()
  }
  console.log(`screenshots written to ${out}`)
} finally {
  await browser.close()
  for (const p of processes) await p.stop('SIGKILL')
  provider.remove()
  consumer.remove()
}
