import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { archiveStream, tarLayout, type ArchiveEntry } from './data-plane/folder-archive.ts'
import { parseRange } from './data-plane/sources.ts'
import { readDownloadState, resumableDownload } from './resumable-download.ts'

/**
 * A folder's tar downloaded by the CLI's resumable download from a real HTTP server that serves it
 * as the consumer's connector relays it (Range, ETag, no sha256 of its own): the first answer breaks
 * off half-way, the resumed one asks for the rest, and the whole is checked against its manifest.
 */
const files: Array<[string, Buffer]> = [
  ['a.csv', Buffer.from('station,t\nA,1.5\n')],
  [`deep/${'long-name-'.repeat(12)}.bin`, randomBytes(300_000)],
  ['deep/été.txt', Buffer.from('non-ASCII name\n')],
  ['empty.bin', Buffer.alloc(0)],
]
const entries = (): AsyncIterable<ArchiveEntry> =>
  (async function* () {
    for (const [path, bytes] of files)
      yield {
        path,
        size: bytes.length,
        modified: new Date('2026-01-01T00:00:00Z'),
        async *open() {
          yield bytes
        },
      }
  })()
const collect = async (stream: ReadableStream<Uint8Array>) => {
  const parts: Uint8Array[] = []
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) parts.push(part)
  return Buffer.concat(parts)
}

let server: Server
let url: string
let work: string
const asked: Array<string | undefined> = []
let cutFirst = true
let tamper = false

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'passerelle-tar-resume-'))
  const layout = await tarLayout(entries())
  server = createServer(async (req, res) => {
    asked.push(req.headers.range)
    const range = parseRange(req.headers.range, layout.size)
    const span = range === 'unsatisfiable' ? undefined : range
    const whole: Buffer = await collect(archiveStream(entries(), 'tar'))
    // A tampered copy has one byte of the first file changed after the archive was made (its header is 512 bytes).
    if (tamper) whole[512] = whole[512]! ^ 1
    const headers = { 'content-type': 'application/x-tar', etag: layout.etag, 'accept-ranges': 'bytes' }
    if (span) {
      res.writeHead(206, { ...headers, 'content-range': `bytes ${span.start}-${span.end}/${layout.size}`, 'content-length': span.end - span.start + 1 })
      return void res.end(await collect(archiveStream(entries(), 'tar', undefined, span)))
    }
    res.writeHead(200, { ...headers, 'content-length': whole.length })
    if (!cutFirst) return void res.end(whole)
    // Half of it, then the connection breaks, once. The break waits a moment after the bytes are
    // handed over, so that the client has read them (a socket destroyed at once can lose them).
    cutFirst = false
    res.write(whole.subarray(0, Math.floor(whole.length / 2)), () => setTimeout(() => res.destroy(), 100))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  rmSync(work, { recursive: true, force: true })
})

const io = { stdout: () => {}, stderr: () => {}, cwd: '.', env: { PASSERELLE_PROGRESS: 'lines' } }
const download = (out: string, resume: boolean) =>
  resumableDownload({ connection: { url, key: 'k' }, state: { transferId: 't1', agreementId: 'a1' }, out, io, resume })

describe('resuming the download of a folder archive', () => {
  it('continues a tar that broke off with a Range, and checks the whole against its manifest', async () => {
    cutFirst = true
    tamper = false
    asked.length = 0
    const out = join(work, 'stations.tar')
    const first = await download(out, false)
    expect(first).toMatchObject({ ok: false, broken: true })
    expect((await readDownloadState(out))?.archive).toBe(true)
    const second = await download(out, true)
    expect(second).toMatchObject({ ok: true })
    expect(asked[1]).toMatch(/^bytes=\d+-$/)
    const whole: Buffer = await collect(archiveStream(entries(), 'tar'))
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(createHash('sha256').update(whole).digest('hex'))
  })

  it('refuses an archive whose files do not match its manifest, and keeps nothing', async () => {
    cutFirst = false
    tamper = true
    const out = join(work, 'tampered.tar')
    const result = await download(out, false)
    expect(result).toMatchObject({ ok: false })
    expect((result as { reason: string }).reason).toContain('a.csv does not match the manifest')
    expect(existsSync(out)).toBe(false)
    expect(existsSync(`${out}.part`)).toBe(false)
  })
})
