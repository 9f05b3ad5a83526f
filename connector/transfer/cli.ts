import { createHash } from 'node:crypto'
import { copyFile, rename, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { UsageError, type CliIo } from '../cli/io.ts'
import { createManagementClient, resolveManagementConnection, type ManagementClient } from '../cli/management-client.ts'
import { sha256FromDigestHeader } from '../data-plane/sources.ts'

/**
 * `passerelle transfer <agreement-id> [--push] [--out FILE]`: asks the running connector to
 * transfer the data of an agreement where this participant is the consumer, follows it, and for a
 * pull downloads the bytes with a progress bar and checks their sha256. Exits 0 when the data is
 * here and intact, 1 with the reason otherwise.
 */
const help = `Usage: passerelle transfer <agreement-id> [options]

Transfers the data of an agreement (this participant is the consumer).

Options:
  --push            the provider pushes into this connector's data folder (default: pull)
  --out FILE        where to write the data (default: <agreement id>.data in the current folder)
  --timeout SEC     give up after SEC seconds without the transfer starting or finishing (default 120)
  --config FILE     the participant configuration (to find the connector and its management key)
  --url URL         the connector's public URL (or PASSERELLE_URL)
  --key KEY         the management API key (or PASSERELLE_MANAGEMENT_KEY)`

interface TransferView {
  id: string
  state: string
  reason: string | null
  outputPath: string | null
  sha256: string | null
  size: number | null
  timeline?: Array<{ at: string; toState: string; cause: string; actor: string; reason: string | null }>
}

export async function runTransferCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(help)
    return 0
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      push: { type: 'boolean' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      config: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
    },
  })
  const [agreementId, ...extra] = positionals
  if (!agreementId || extra.length > 0) throw new UsageError('expected <agreement-id> (see passerelle transfer --help)')
  const timeoutSeconds = values.timeout === undefined ? 120 : Number(values.timeout)
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout expects a number of seconds, got '${values.timeout}'`)
  const out = resolve(io.cwd, values.out ?? `${agreementId.replace(/[^A-Za-z0-9._-]/g, '_')}.data`)
  const connection = resolveManagementConnection(values, io)
  const client = createManagementClient({ url: connection.url, key: connection.key }, io)

  const started = await client.post<TransferView>('/transfers', { agreementId, format: values.push ? 'push' : 'pull' })
  io.stdout(`transfer ${started.id} requested (${values.push ? 'push' : 'pull'})`)
  const until = values.push ? ['COMPLETED', 'TERMINATED'] : ['STARTED', 'COMPLETED', 'TERMINATED']
  const reached = await follow(client, started.id, io, until, timeoutSeconds * 1000)
  if (!reached) return 1
  if (reached.state === 'TERMINATED') {
    io.stderr(`TERMINATED: ${reached.reason ?? 'no reason given'}`)
    return 1
  }
  if (values.push) {
    if (!reached.outputPath) {
      io.stderr('the transfer completed but no data was received')
      return 1
    }
    await copyFile(reached.outputPath, out)
    const sha = await sha256Of(out)
    if (sha !== reached.sha256) {
      io.stderr(`checksum mismatch: received ${reached.sha256}, copied file has ${sha}`)
      return 1
    }
    io.stdout(`received ${reached.size} bytes, sha256 ${sha} verified → ${out}`)
    return 0
  }
  const result = await download(connection, started.id, out, io)
  if (!result.ok) {
    io.stderr(result.reason)
    await client.post(`/transfers/${encodeURIComponent(started.id)}/terminate`, { reason: result.reason }).catch(() => {})
    return 1
  }
  await client.post(`/transfers/${encodeURIComponent(started.id)}/complete`).catch((error) => io.stderr(`could not mark the transfer completed: ${(error as Error).message}`))
  io.stdout(`downloaded ${result.bytes} bytes, sha256 ${result.sha256} verified → ${out}`)
  return 0
}

async function follow(client: ManagementClient, id: string, io: CliIo, until: string[], timeoutMs: number): Promise<TransferView | undefined> {
  const deadline = Date.now() + timeoutMs
  let printed = 0
  for (;;) {
    const view = await client.get<TransferView>(`/transfers/${encodeURIComponent(id)}`)
    const timeline = view.timeline ?? []
    for (const e of timeline.slice(printed)) io.stdout(`${e.at}  ${e.toState.padEnd(10)} ${e.cause} (${e.actor})${e.reason ? `: ${e.reason}` : ''}`)
    printed = timeline.length
    if (until.includes(view.state)) return view
    if (Date.now() > deadline) {
      io.stderr(`gave up waiting: the transfer is still ${view.state}`)
      return undefined
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

type DownloadResult = { ok: true; bytes: number; sha256: string } | { ok: false; reason: string }

/** Streams the data to `<out>.part` while hashing it, then checks size and sha256 before renaming. */
async function download(connection: { url: string; key: string }, id: string, out: string, io: CliIo): Promise<DownloadResult> {
  let response: Response
  try {
    response = await fetch(`${connection.url}/management/v1/transfers/${encodeURIComponent(id)}/data`, { headers: { authorization: `Bearer ${connection.key}` } })
  } catch (error) {
    return { ok: false, reason: `the download could not start: ${(error as Error).message}` }
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => '')
    let message = text
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text
    } catch {}
    return { ok: false, reason: `the download was refused (${response.status}): ${message}` }
  }
  const total = Number(response.headers.get('content-length') ?? NaN)
  const expected = response.headers.get('x-content-sha256') ?? sha256FromDigestHeader(response.headers.get('repr-digest') ?? undefined)
  const progress = progressBar(io, Number.isFinite(total) ? total : undefined)
  const hash = createHash('sha256')
  let bytes = 0
  const part = `${out}.part`
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
      createWriteStream(part),
    )
  } catch (error) {
    await rm(part, { force: true })
    return { ok: false, reason: `the download broke off after ${bytes} bytes: ${(error as Error).message}` }
  }
  progress.done(bytes)
  const sha256 = hash.digest('hex')
  if (Number.isFinite(total) && bytes !== total) {
    await rm(part, { force: true })
    return { ok: false, reason: `received ${bytes} bytes, the provider announced ${total}` }
  }
  if (!expected) {
    await rm(part, { force: true })
    return { ok: false, reason: 'the provider sent no sha256 to check the data against' }
  }
  if (expected !== sha256) {
    await rm(part, { force: true })
    return { ok: false, reason: `checksum mismatch: the provider announced sha256 ${expected}, the bytes received have ${sha256}` }
  }
  await rename(part, out)
  return { ok: true, bytes, sha256 }
}

/** A one-line bar on a terminal; on anything else, a line every 10%. */
function progressBar(io: CliIo, total: number | undefined) {
  const tty = process.stderr.isTTY && io.env.PASSERELLE_PROGRESS !== 'lines'
  const started = Date.now()
  let lastDraw = 0
  let lastDecile = -1
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
  const text = (bytes: number) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000)
    const rate = `${mib(bytes / seconds)}/s`
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

async function sha256Of(path: string) {
  const { hashFile } = await import('../data-plane/sources.ts')
  return hashFile(path)
}
