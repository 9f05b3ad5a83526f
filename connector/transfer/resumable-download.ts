import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { CliIo } from '../cli/io.ts'
import { sha256FromDigestHeader } from './data-plane/sources.ts'
import { checkTarManifest } from './tar-manifest-check.ts'

/**
 * A pull download that can be continued: the bytes go to `<out>.part`, and what is needed to
 * continue them (the transfer, the path suffix and query asked for, the provider's ETag and sha256)
 * to `<out>.part.json`, written before the first byte. A download that breaks off keeps both; run
 * again with `resume`, it asks for the rest with a Range (and If-Range, so that data changed since
 * is sent whole), appends it, and checks the whole file's sha256 at the end.
 */
export interface DownloadState {
  transferId: string
  agreementId: string
  /** Path suffix and query parameters asked of an HTTP API distribution. */
  path?: string | undefined
  query?: Array<[string, string]> | undefined
  etag?: string | undefined
  sha256?: string | undefined
  /** The data is a folder's tar, checked against its manifest (it announces no sha256 of its own). */
  archive?: boolean | undefined
}

export type DownloadResult = { ok: true; bytes: number; sha256: string } | { ok: false; reason: string; broken?: boolean }

export const stateFileOf = (out: string) => `${out}.part.json`

export async function readDownloadState(out: string): Promise<DownloadState | undefined> {
  try {
    const parsed = JSON.parse(await readFile(stateFileOf(out), 'utf8')) as DownloadState
    return typeof parsed.transferId === 'string' && typeof parsed.agreementId === 'string' ? parsed : undefined
  } catch {
    return undefined
  }
}

const saveState = (out: string, state: DownloadState) => writeFile(stateFileOf(out), JSON.stringify(state), { mode: 0o600 })

/** Streams the data to `<out>.part` while hashing it, from where a previous attempt stopped when `resume`. */
export async function resumableDownload(input: {
  connection: { url: string; key: string }
  state: DownloadState
  out: string
  io: CliIo
  resume: boolean
}): Promise<DownloadResult> {
  const { connection, state, out, io } = input
  const part = `${out}.part`
  await saveState(out, state)
  let offset = input.resume
    ? await stat(part).then(
        (s) => s.size,
        () => 0,
      )
    : 0
  const suffix = state.path ? `/${state.path.replace(/^\/+/, '')}` : ''
  const query = state.query && state.query.length > 0 ? `?${new URLSearchParams(state.query).toString()}` : ''
  const headers: Record<string, string> = { authorization: `Bearer ${connection.key}` }
  if (offset > 0) {
    headers.range = `bytes=${offset}-`
    if (state.etag) headers['if-range'] = state.etag
  }
  let response: Response
  try {
    response = await fetch(`${connection.url}/management/v1/transfers/${encodeURIComponent(state.transferId)}/data${suffix}${query}`, { headers })
  } catch (error) {
    return { ok: false, broken: true, reason: `the download could not start: ${(error as Error).message}` }
  }
  const announced = response.headers.get('x-content-sha256') ?? sha256FromDigestHeader(response.headers.get('repr-digest') ?? undefined)
  if (response.status === 416 && offset > 0) {
    // Everything was here already: only the check is left.
    const size = Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1] ?? NaN)
    if (size === offset) return finish(out, part, offset, await hashOf(part), state.sha256, state.archive)
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => '')
    let message = text
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text
    } catch {}
    return { ok: false, reason: `the download was refused (${response.status}): ${message}` }
  }
  let total: number
  if (response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '')
    if (!range || Number(range[1]) !== offset) {
      await response.body.cancel().catch(() => {})
      return { ok: false, reason: `the provider answered another range than asked (${response.headers.get('content-range')})` }
    }
    total = Number(range[3])
    io.stdout(`resuming at byte ${offset} of ${total}`)
  } else {
    // A whole answer: the data changed, the provider ignores ranges, or there was nothing to resume.
    if (offset > 0) io.stdout('the provider sent the data whole: starting again')
    offset = 0
    total = Number(response.headers.get('content-length') ?? NaN)
  }
  const expected = announced ?? state.sha256
  // A folder's tar announces no sha256 (it is built as it streams): it is checked against its manifest.
  const archive = /^application\/(x-)?tar\b/i.test(response.headers.get('content-type') ?? '') || undefined
  await saveState(out, { ...state, etag: response.headers.get('etag') ?? state.etag, sha256: expected, ...(archive ? { archive } : {}) })
  const hash = createHash('sha256')
  if (offset > 0) for await (const chunk of createReadStream(part)) hash.update(chunk as Buffer)
  const progress = progressBar(io, Number.isFinite(total) ? total : undefined, offset)
  let bytes = offset
  try {
    await pipeline(
      Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk)
          bytes += chunk.length
          progress.update(bytes)
          done(null, chunk)
        },
      }),
      createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }),
    )
  } catch (error) {
    progress.done(bytes)
    return { ok: false, broken: true, reason: `the download broke off after ${bytes} bytes: ${(error as Error).message}` }
  }
  progress.done(bytes)
  if (Number.isFinite(total) && bytes !== total) {
    if (bytes < total) return { ok: false, broken: true, reason: `the download broke off after ${bytes} of ${total} bytes` }
    await discard(out)
    return { ok: false, reason: `received ${bytes} bytes, the provider announced ${total}` }
  }
  return finish(out, part, bytes, hash.digest('hex'), expected, archive)
}

async function finish(out: string, part: string, bytes: number, sha256: string, expected: string | undefined, archive?: boolean): Promise<DownloadResult> {
  if (!expected && archive) {
    const checked = await checkTarManifest(part)
    if (!checked.ok) {
      await discard(out)
      return { ok: false, reason: `the folder archive does not match its manifest: ${checked.reason}` }
    }
    await rename(part, out)
    await rm(stateFileOf(out), { force: true })
    return { ok: true, bytes, sha256 }
  }
  if (!expected) {
    await discard(out)
    return { ok: false, reason: 'the provider sent no sha256 to check the data against' }
  }
  if (expected !== sha256) {
    await discard(out)
    return { ok: false, reason: `checksum mismatch: the provider announced sha256 ${expected}, the bytes received have ${sha256}` }
  }
  await rename(part, out)
  await rm(stateFileOf(out), { force: true })
  return { ok: true, bytes, sha256 }
}

/** Drops the partial file and what was kept to continue it. */
export async function discard(out: string) {
  await rm(`${out}.part`, { force: true })
  await rm(stateFileOf(out), { force: true })
}

async function hashOf(path: string) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** A one-line bar on a terminal; on anything else, a line every 10%. */
function progressBar(io: CliIo, total: number | undefined, from = 0) {
  const tty = process.stderr.isTTY && io.env.PASSERELLE_PROGRESS !== 'lines'
  const started = Date.now()
  let lastDraw = 0
  let lastDecile = from > 0 && total ? Math.floor((from / total) * 10) : -1
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
  const text = (bytes: number) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000)
    const rate = `${mib((bytes - from) / seconds)}/s`
    if (!total) return `${mib(bytes)} ${rate}`
    const ratio = Math.min(1, bytes / total)
    const width = 30
    const filled = Math.round(ratio * width)
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${mib(bytes)} / ${mib(total)} ${rate}`
  }
  return {
    update(bytes: number) {
      const now = Date.now()
      if (tty) {
        if (now - lastDraw < 100) return
        lastDraw = now
        process.stderr.write(`\r${text(bytes)}`)
      } else if (total) {
        const decile = Math.floor((bytes / total) * 10)
        if (decile > lastDecile && decile < 10) {
          lastDecile = decile
          io.stderr(text(bytes))
        }
      }
    },
    done(bytes: number) {
      if (tty) process.stderr.write(`\r${text(bytes)}\n`)
      else io.stderr(text(bytes))
    },
  }
}
