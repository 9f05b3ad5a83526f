import { copyFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, type CliIo } from '../cli/io.ts'
import { createManagementClient, resolveManagementConnection, type ManagementClient } from '../cli/management-client.ts'
import { agreementObligations, printObligations } from '../negotiation/cli-obligations.ts'
import { discard, readDownloadState, resumableDownload, type DownloadResult } from './resumable-download.ts'
import { transferHelp } from './cli-help.ts'

/**
 * `passerelle transfer <agreement-id> [--push] [--out FILE]`: asks the running connector to
 * transfer the data of an agreement where this participant is the consumer, follows it, and for a
 * pull downloads the bytes with a progress bar and checks their sha256. A pull that breaks off is
 * continued with `--resume` (same transfer, same output file). Exits 0 when the data is here and
 * intact (and prints what the agreement binds us to: its duties and how to fulfil them), 1 with
 * the reason otherwise.
 */
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
    io.stdout(transferHelp)
    return 0
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      push: { type: 'boolean' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      param: { type: 'string', multiple: true },
      path: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
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
  // With --json, standard output carries only the final document; the progress goes to standard error.
  const progress: CliIo = values.json ? { ...io, stdout: io.stderr } : io
  const code = await run(client, connection, agreementId, out, { ...values, timeoutSeconds }, progress)
  if (code !== 0) return code
  let obligations: Awaited<ReturnType<typeof agreementObligations>> | undefined
  try {
    obligations = await agreementObligations(client, agreementId)
  } catch (error) {
    io.stderr(`could not read the agreement's obligations: ${(error as Error).message} (passerelle agreements show ${agreementId})`)
  }
  if (values.json) io.stdout(JSON.stringify({ agreementId, out, ...(obligations ? { obligations } : {}) }, null, 2))
  else if (obligations) printObligations(obligations, io)
  return 0
}

async function run(
  client: ManagementClient,
  connection: { url: string; key: string },
  agreementId: string,
  out: string,
  values: { push?: boolean; resume?: boolean; param?: string[]; path?: string; timeoutSeconds: number },
  io: CliIo,
): Promise<number> {
  const query = (values.param ?? []).map((entry): [string, string] => {
    const at = entry.indexOf('=')
    if (at <= 0) throw new UsageError(`--param expects NAME=VALUE, got '${entry}'`)
    return [entry.slice(0, at), entry.slice(at + 1)]
  })
  if (values.resume) {
    if (values.push) throw new UsageError('--resume continues a pull; a push is sent again by the provider')
    return resumePull(client, connection, agreementId, out, io)
  }

  const started = await client.post<TransferView>('/transfers', { agreementId, format: values.push ? 'push' : 'pull' })
  io.stdout(`transfer ${started.id} requested (${values.push ? 'push' : 'pull'})`)
  const until = values.push ? ['COMPLETED', 'TERMINATED'] : ['STARTED', 'COMPLETED', 'TERMINATED']
  const reached = await follow(client, started.id, io, until, values.timeoutSeconds * 1000)
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
  const state = { transferId: started.id, agreementId, path: values.path, query }
  return finishPull(client, await resumableDownload({ connection, state, out, io, resume: false }), started.id, out, io)
}

/** Continues the pull recorded beside `out`, if its transfer is still running. */
async function resumePull(client: ManagementClient, connection: { url: string; key: string }, agreementId: string, out: string, io: CliIo) {
  const state = await readDownloadState(out)
  if (!state) throw new UsageError(`nothing to resume: no interrupted download at ${out}.part (start one without --resume)`)
  if (state.agreementId !== agreementId) throw new UsageError(`${out}.part belongs to agreement ${state.agreementId}, not ${agreementId}`)
  const view = await client.get<TransferView>(`/transfers/${encodeURIComponent(state.transferId)}`)
  if (view.state !== 'STARTED') {
    io.stderr(`cannot resume: the transfer ${state.transferId} is ${view.state}${view.reason ? `: ${view.reason}` : ''}`)
    return 1
  }
  io.stdout(`resuming transfer ${state.transferId}`)
  return finishPull(client, await resumableDownload({ connection, state, out, io, resume: true }), state.transferId, out, io)
}

async function finishPull(client: ManagementClient, result: DownloadResult, transferId: string, out: string, io: CliIo): Promise<number> {
  if (!result.ok) {
    io.stderr(result.reason)
    // A download cut short stays open to be continued; anything else ends the transfer.
    if (result.broken) {
      io.stderr(`the part received is kept in ${out}.part: run the same command with --resume to continue`)
      return 1
    }
    await discard(out)
    await client.post(`/transfers/${encodeURIComponent(transferId)}/terminate`, { reason: result.reason }).catch(() => {})
    return 1
  }
  await client
    .post(`/transfers/${encodeURIComponent(transferId)}/complete`)
    .catch((error) => io.stderr(`could not mark the transfer completed: ${(error as Error).message}`))
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

async function sha256Of(path: string) {
  const { hashFile } = await import('./data-plane/sources.ts')
  return hashFile(path)
}
