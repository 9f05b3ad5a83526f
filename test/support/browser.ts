import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Browser, Page } from 'playwright-core'

/**
 * A real browser for the console's tests: Debian's chromium driven by playwright-core (never a
 * downloaded browser). `PASSERELLE_CHROMIUM` names another executable.
 */
export const chromiumPath = [process.env.PASSERELLE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (path): path is string => !!path && existsSync(path),
)

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  // The sandbox needs user namespaces, which containers (CI) often lack.
  return chromium.launch({ executablePath: chromiumPath!, args: ['--no-sandbox'] })
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/**
 * axe-core run in the page (evaluated through the browser's debugging protocol, so the page's
 * Content-Security-Policy stays as it is); answers the serious and critical violations.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.evaluate(axeSource)
  const violations = await page.evaluate(async () => {
    // Runs in the page, where axe and document exist.
    const result = await (globalThis as any).axe.run((globalThis as any).document, { resultTypes: ['violations'] })
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3) }))
  })
  return (violations as Array<{ id: string; impact: string; help: string; nodes: string[] }>)
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`)
}
