/**
 * Telling the story: numbered steps that print what happens, checks that say what was expected and
 * what came instead, and a summary. A step whose prerequisite failed is skipped, not faked.
 */

const useColor = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (code: string) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text)
export const bold = paint('1')
export const dim = paint('2')
export const green = paint('32')
export const red = paint('31')
export const yellow = paint('33')

/** A check that did not hold: what was expected, and what came. */
export class StepFailure extends Error {}

export function expect(condition: unknown, expected: string, actual: unknown): asserts condition {
  if (!condition) throw new StepFailure(`expected ${expected}; got ${typeof actual === 'string' ? actual : JSON.stringify(actual)}`)
}

export const say = (text = '') => console.log(text ? `   ${text.replaceAll('\n', '\n   ')}` : '')

export interface StepResult {
  title: string
  outcome: 'passed' | 'failed' | 'skipped'
  detail?: string
}

export class Story {
  readonly results: StepResult[] = []
  private number = 0

  /** Runs one step; `needs` names earlier steps (by title) that must have passed. */
  async step<T>(title: string, run: () => Promise<T>, needs: string[] = []): Promise<T | undefined> {
    this.number++
    console.log(`\n${bold(`${this.number}. ${title}`)}`)
    const missing = needs.filter((n) => this.results.find((r) => r.title === n)?.outcome !== 'passed')
    if (missing.length > 0) {
      const detail = `skipped: it needs ${missing.map((m) => `"${m}"`).join(', ')}, which did not pass`
      say(yellow(detail))
      this.results.push({ title, outcome: 'skipped', detail })
      return undefined
    }
    try {
      const value = await run()
      say(green('✔ as expected'))
      this.results.push({ title, outcome: 'passed' })
      return value
    } catch (error) {
      const detail = error instanceof StepFailure ? error.message : `unexpected error: ${(error as Error).stack ?? error}`
      say(red(`✘ step failed: ${detail}`))
      this.results.push({ title, outcome: 'failed', detail })
      return undefined
    }
  }

  get passed() {
    return this.results.length > 0 && this.results.every((r) => r.outcome === 'passed')
  }

  summary() {
    console.log(`\n${bold('Summary')}`)
    for (const r of this.results) {
      const mark = r.outcome === 'passed' ? green('✔') : r.outcome === 'failed' ? red('✘') : yellow('–')
      console.log(`  ${mark} ${r.title}${r.detail ? dim(` — ${r.detail.split('\n')[0]}`) : ''}`)
    }
    const failed = this.results.filter((r) => r.outcome !== 'passed').length
    console.log(
      failed === 0
        ? green(`\nEvery step behaved as expected (${this.results.length} steps).`)
        : red(`\n${failed} of ${this.results.length} steps did not behave as expected.`),
    )
  }
}

/** Polls until `ok` holds or the time is up; returns the last value either way. */
export async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000, everyMs = 200): Promise<{ value: T; ok: boolean }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value)) return { value, ok: true }
    if (Date.now() > deadline) return { value, ok: false }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** `12:03:04.120` from an ISO time. */
export const clock = (iso: string) => iso.slice(11, 23)

/** A plain table with padded columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export const shortDid = (did: string | null | undefined) => (did ?? '?').replace('did:web:127.0.0.1%3A', 'did:web:…:')
