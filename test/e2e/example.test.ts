/**
 * `npm run example` as a user runs it: the whole story plays and every step behaves as expected;
 * every process it started is gone afterwards, also when it is interrupted with Ctrl-C.
 */
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'

function runExample() {
  const child = spawn(process.execPath, ['--import', 'tsx', fromRoot('examples/eu-canada-climate/run.ts')], {
    cwd: fromRoot(),
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  return { child, exited, output: () => output }
}

/** The connector and authority URLs the story printed in its table of participants. */
const urlsIn = (output: string) => [...new Set(output.match(/http:\/\/127\.0\.0\.1:\d+(?=\s*$)/gm) ?? [])]

const listening = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { port } = new URL(url)
    const socket = connect(Number(port), '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })

async function waitForText(read: () => string, text: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  while (!read().includes(text)) {
    if (Date.now() > deadline) throw new Error(`"${text}" not printed within ${timeoutMs / 1000} s:\n${read()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('npm run example', () => {
  it('plays the whole story, every step as expected, and exits 0 with every process stopped', async () => {
    const run = runExample()
    const code = await run.exited
    const output = run.output()
    expect(output).toContain('1. Discovery')
    expect(output).toContain('Expiry')
    const urls = urlsIn(output)
    expect(urls).toHaveLength(5) // two authorities and three connectors
    for (const url of urls) expect(await listening(url), `${url} still listening`).toBe(false)
    expect({ code, failed: output.match(/✘ .*/g) ?? [] }).toEqual({ code: 0, failed: [] })
    expect(output).toContain('Every step behaved as expected')
  }, 240_000)

  it('stops every process it started when interrupted with Ctrl-C', async () => {
    const run = runExample()
    await waitForText(run.output, '1. Discovery', 90_000)
    const urls = urlsIn(run.output())
    expect(urls).toHaveLength(5)
    run.child.kill('SIGINT')
    expect(await run.exited).toBe(130)
    for (const url of urls) expect(await listening(url), `${url} still listening`).toBe(false)
  }, 120_000)
})
