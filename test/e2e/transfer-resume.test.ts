import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import {
  allowPort,
  copyParticipant,
  freePort,
  management,
  spawnCli,
  startConnectorProcess,
  until,
  type ConnectorProcess,
  type ParticipantFolder,
} from '../support/processes.ts'

/**
 * `passerelle transfer --resume` through real connector processes: the provider's dataset is an
 * HTTP API (a server in the test process that sends its first answer slowly and honours Range);
 * the first download is killed half-way, the second continues it into the same file, checks the
 * whole file's sha256, and the interrupted download and its continuation count as one access.
 */
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e'
const env = { PASSERELLE_DISPATCH_BASE_DELAY_MS: '100', PASSERELLE_LOG_LEVEL: 'warn' }
const content = randomBytes(16 * 1024 * 1024)
const contentSha = createHash('sha256').update(content).digest('hex')
const reprDigest = `sha-256=:${createHash('sha256').update(content).digest('base64')}:`

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let processes: ConnectorProcess[] = []
let upstream: Server
let work: string
const ranges: string[] = []

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'passerelle-resume-'))
  cleanups.push(() => rmSync(work, { recursive: true, force: true }))
  const upstreamPort = await freePort()
  upstream = createServer((req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    ranges.push(req.headers.range ?? '')
    const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag: '"v1"', 'repr-digest': reprDigest }
    if (range) {
      const start = Number(range[1])
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${content.length - 1}/${content.length}`, 'content-length': content.length - start })
      return void res.end(content.subarray(start))
    }
    // The first answer crawls (64 KiB every 20 ms): the test stops the download half-way.
    res.writeHead(200, { ...headers, 'content-length': content.length })
    let at = 0
    const timer = setInterval(() => {
      if (res.destroyed || at >= content.length) return clearInterval(timer)
      res.write(content.subarray(at, at + 64 * 1024))
      at += 64 * 1024
      if (at >= content.length) res.end()
    }, 20)
    res.on('close', () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve))
  cleanups.push(() => {
    upstream.closeAllConnections()
    upstream.close()
  })
  allowPort(upstreamPort)
  const [providerPort, consumerPort] = [await freePort(), await freePort()]
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(providerPort), 'consumer-token': did(consumerPort) } }
  provider = await copyParticipant({ port: providerPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  // The provider's dataset now lives behind the institution's HTTP server.
  const datasetFile = join(provider.dir, 'datasets', 'arctic-sea-ice-extent.yaml')
  const yaml = readFileSync(datasetFile, 'utf8').replace(
    / {4}file: files\/arctic-sea-ice-extent-monthly-2015-2024\.csv/,
    `    url: http://127.0.0.1:${upstreamPort}/arctic.bin`,
  )
  expect(yaml).toContain('url: http://127.0.0.1')
  writeFileSync(datasetFile, yaml)
  processes = [await startConnectorProcess(provider, { env }), await startConnectorProcess(consumer, { env })]
  cleanups.push(...processes.map((p) => () => p.stop('SIGKILL')))
}, 60_000)
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function negotiate(): Promise<string> {
  const loaded = await loadPolicies(fromRoot('seeds/policies'))
  const offer = loaded.policies.get('open-with-attribution')!.odrl as Record<string, unknown>
  const started = await management(consumer, 'POST', '/negotiations', { peerUrl: `${provider.url}/dsp/2025-1`, peerId: provider.did, datasetId: arctic, offer })
  expect(started.status).toBe(201)
  const done = await until(async () => {
    const { body } = await management(consumer, 'GET', `/negotiations/${started.body.id}`)
    return body.state === 'FINALIZED' ? body : undefined
  })
  return done.agreementId as string
}

const cli = (args: string[]) =>
  spawnCli({ args: ['transfer', ...args, '--url', consumer.url, '--key', consumer.managementKey, '--timeout', '30'], env: { PASSERELLE_PROGRESS: 'lines' } })

describe('passerelle transfer --resume', () => {
  it('continues a download killed half-way into the same file, checks the sha256, and counts one access', async () => {
    const agreementId = await negotiate()
    const out = join(work, 'arctic.bin')
    const first = cli([agreementId, '--out', out])
    await until(async () => (existsSync(`${out}.part`) && statSync(`${out}.part`).size > 2 * 1024 * 1024 ? true : undefined))
    process.kill(-first.child.pid!, 'SIGKILL')
    await first.exited
    const kept = statSync(`${out}.part`).size
    expect(kept).toBeLessThan(content.length)
    expect(existsSync(`${out}.part.json`)).toBe(true)

    // The provider has noticed the cut and settled the access (what it sent is recorded).
    await until(async () => {
      const { body } = await management(provider, 'GET', '/transfers?role=provider')
      const mine = body.items.find((t: { agreementId: string }) => t.agreementId === agreementId)
      const view = mine && (await management(provider, 'GET', `/transfers/${mine.id}`)).body
      return view?.accesses?.some((a: { bytes: number }) => a.bytes > 0) ? true : undefined
    })
    const second = cli([agreementId, '--resume', '--out', out])
    const code = await second.exited
    const output = second.output.join('\n')
    expect(code, output).toBe(0)
    expect(output).toContain('resuming at byte')
    expect(output).toContain(`sha256 ${contentSha} verified`)
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(contentSha)
    expect(existsSync(`${out}.part`)).toBe(false)
    expect(existsSync(`${out}.part.json`)).toBe(false)
    // The continuation asked the upstream for the rest only.
    expect(ranges.at(-1)).toMatch(/^bytes=\d+-$/)
    const { body } = await management(provider, 'GET', '/transfers?role=provider')
    const mine = body.items.find((t: { agreementId: string }) => t.agreementId === agreementId)
    expect(mine).toMatchObject({ accessCount: 1, state: 'COMPLETED' })
  }, 120_000)

  it('says there is nothing to resume when no download was interrupted', async () => {
    const run = cli(['urn:uuid:00000000-0000-4000-8000-00000000beef', '--resume', '--out', join(work, 'none.bin')])
    expect(await run.exited).not.toBe(0)
    expect(run.output.join('\n')).toContain('nothing to resume')
  })
})
