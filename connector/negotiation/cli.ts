import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createManagementClient, type ManagementClient } from '../cli/management-client.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { refusalHints } from './refusal-hints.ts'
import { agreementObligations, printObligations } from './cli-obligations.ts'
import { negotiateHelp } from './cli-help.ts'

/**
 * `passerelle negotiate <peer-url> <dataset-id> [--offer ID] [--wait]`: asks the running connector
 * (its management API) to negotiate with a peer, and with --wait prints each state change as it
 * happens; exits 0 on FINALIZED, then prints what the agreement binds us to (its duties and how to
 * fulfil them), 1 with the reason otherwise.
 */
interface TimelineEntry {
  seq: number
  at: string
  kind: string
  direction: string
  actor: string
  toState: string
  reason: string | null
}
interface NegotiationView {
  id: string
  state: string
  reason: string | null
  pending: string | null
  agreementId: string | null
  timeline?: TimelineEntry[]
}

export async function runNegotiateCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(negotiateHelp)
    return 0
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      offer: { type: 'string' },
      hit: { type: 'string' },
      purpose: { type: 'string' },
      'processing-location': { type: 'string' },
      sector: { type: 'string' },
      'peer-id': { type: 'string' },
      manual: { type: 'boolean' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
    },
  })
  const hit = values.hit === undefined ? undefined : readHit(values.hit, io)
  if (hit && positionals.length > 0) throw new UsageError('give either --hit FILE or <peer-dsp-url> <dataset-id>, not both')
  const [peerUrl, datasetId, ...extra] = hit ? [hit.peerUrl, hit.datasetId] : positionals
  if (!peerUrl || !datasetId || extra.length > 0) throw new UsageError('expected <peer-dsp-url> <dataset-id> (see passerelle negotiate --help)')
  const declaredUse = {
    ...(values.purpose ? { purpose: values.purpose } : {}),
    ...(values['processing-location'] ? { spatial: values['processing-location'] } : {}),
    ...(values.sector ? { industry: values.sector } : {}),
  }
  if (!/^https?:\/\//.test(peerUrl)) throw new UsageError(`the peer URL must start with http:// or https://, got '${peerUrl}'`)
  const timeoutSeconds = values.timeout === undefined ? 60 : Number(values.timeout)
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout expects a number of seconds, got '${values.timeout}'`)
  const client = createManagementClient({ config: values.config, url: values.url, key: values.key }, io)
  const started = await client.post<NegotiationView>('/negotiations', {
    peerUrl,
    datasetId,
    ...(values.offer ? { offerId: values.offer } : {}),
    ...(hit?.offer && !values.offer ? { offer: hit.offer } : {}),
    ...((values['peer-id'] ?? hit?.peerId) ? { peerId: values['peer-id'] ?? hit?.peerId } : {}),
    ...(Object.keys(declaredUse).length > 0 ? { declaredUse } : {}),
    ...(values.manual ? { mode: 'manual' } : {}),
  })
  if (!values.wait) {
    if (values.json) io.stdout(JSON.stringify({ negotiation: started }, null, 2))
    else {
      io.stdout(`negotiation ${started.id} started`)
      io.stdout(started.state)
    }
    return 0
  }
  // With --json, standard output carries only the final document; the progress goes to standard error.
  const progress = values.json ? { ...io, stdout: io.stderr } : io
  progress.stdout(`negotiation ${started.id} started`)
  const view = await follow(client, started.id, progress, timeoutSeconds * 1000)
  if (view?.state !== 'FINALIZED' || !view.agreementId) {
    if (values.json && view) io.stdout(JSON.stringify({ negotiation: view }, null, 2))
    return 1
  }
  let obligations: Awaited<ReturnType<typeof agreementObligations>> | undefined
  try {
    obligations = await agreementObligations(client, view.agreementId)
  } catch (error) {
    io.stderr(`could not read the agreement's obligations: ${(error as Error).message} (passerelle agreements show ${view.agreementId})`)
  }
  if (values.json) io.stdout(JSON.stringify({ negotiation: view, ...(obligations ? { obligations } : {}) }, null, 2))
  else if (obligations) printObligations(obligations, io)
  return 0
}

/** Prints the timeline as it grows; the last view, or undefined when it gave up waiting. */
async function follow(client: ManagementClient, id: string, io: CliIo, timeoutMs: number): Promise<NegotiationView | undefined> {
  const deadline = Date.now() + timeoutMs
  let printed = 0
  let heldNoticed = false
  for (;;) {
    // Long poll: the connector answers as soon as the timeline goes past what we printed.
    const wait = Math.max(0, Math.min(10, (deadline - Date.now()) / 1000)).toFixed(1)
    const view = await client.get<NegotiationView>(`/negotiations/${encodeURIComponent(id)}?after=${printed}&wait=${wait}`)
    for (const entry of (view.timeline ?? []).filter((e) => e.seq > printed)) {
      io.stdout(line(entry))
      printed = entry.seq
    }
    if (view.state === 'FINALIZED') {
      io.stdout(`FINALIZED: agreement ${view.agreementId}`)
      return view
    }
    if (view.state === 'TERMINATED') {
      io.stderr(`TERMINATED: ${view.reason ?? 'no reason given'}`)
      for (const hint of refusalHints(view.reason)) io.stderr(`hint: ${hint}`)
      return view
    }
    if (view.pending && !heldNoticed) {
      io.stdout(`waiting for approval: ${view.pending} (passerelle management API: POST /negotiations/${id}/approve)`)
      heldNoticed = true
    }
    if (Date.now() > deadline) {
      io.stderr(`gave up waiting: the negotiation is still ${view.state}`)
      return undefined
    }
  }
}

const line = (e: TimelineEntry) => {
  const who = e.direction === 'inbound' ? `from ${e.actor}` : e.direction === 'outbound' ? 'sent' : e.actor
  return `${e.at}  ${e.toState.padEnd(10)} ${e.kind} (${who})${e.reason ? `: ${e.reason}` : ''}`
}

/** A federated search hit (the shape `passerelle search --hit N` prints): what a negotiation needs. */
function readHit(file: string, io: CliIo): { peerUrl: string; peerId?: string; datasetId: string; offer?: Record<string, unknown> } {
  let text: string
  try {
    text = readFileSync(file === '-' ? 0 : resolve(io.cwd, file), 'utf8')
  } catch (error) {
    throw new UsageError(`--hit: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`)
  }
  let hit: { peer?: { dspUrl?: unknown; participantId?: unknown }; datasetId?: unknown; offers?: Array<{ policy?: unknown }> }
  try {
    hit = JSON.parse(text)
  } catch {
    throw new UsageError(`--hit: ${file} is not JSON (expected one hit as printed by passerelle search --hit N)`)
  }
  if (typeof hit?.peer?.dspUrl !== 'string' || typeof hit.datasetId !== 'string') {
    throw new UsageError(`--hit: ${file} has no peer.dspUrl and datasetId (expected one hit as printed by passerelle search --hit N)`)
  }
  const policy = hit.offers?.[0]?.policy
  return {
    peerUrl: hit.peer.dspUrl,
    ...(typeof hit.peer.participantId === 'string' ? { peerId: hit.peer.participantId } : {}),
    datasetId: hit.datasetId,
    ...(policy && typeof policy === 'object' ? { offer: policy as Record<string, unknown> } : {}),
  }
}
