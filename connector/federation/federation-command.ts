import { parseArgs } from 'node:util'
import { UsageError, type CliIo } from '../cli/io.ts'
import { createManagementClient, type ManagementClient } from '../cli/management-client.ts'
import { table } from '../cli/records-command.ts'
import { peerFreshness } from './freshness.ts'
import type { PeerStatus } from './peers.ts'
import { federationHelp } from './cli-help.ts'

/**
 * `passerelle federation peers|crawl`: the peers a running connector crawls, with how fresh what it
 * holds from each is, and a crawl now (of one peer or all) instead of waiting for the interval.
 */
export async function runFederationCommand(args: string[], io: CliIo): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    io.stdout(federationHelp)
    return args.length === 0 ? 2 : 0
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
    },
  })
  const [sub, peer, ...extra] = positionals
  if (sub === 'peers' && peer === undefined) {
    const client = createManagementClient(values, io)
    print(await listPeers(client), io, values.json === true)
    return 0
  }
  if (sub !== 'crawl' || extra.length > 0) throw new UsageError('expected peers, or crawl [PEER] (see passerelle federation --help)')
  const timeoutSeconds = values.timeout === undefined ? 60 : Number(values.timeout)
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout expects a number of seconds, got '${values.timeout}'`)
  const client = createManagementClient(values, io)
  const due = peer
    ? [await client.post<PeerStatus>(`/peers/${encodeURIComponent(peer)}/crawl`)]
    : (await client.post<{ peers: PeerStatus[] }>('/peers/crawl')).peers
  if (!values.wait) {
    if (values.json) io.stdout(JSON.stringify({ peers: due }, null, 2))
    else io.stdout(due.length === 0 ? 'no active peer to crawl' : `crawling now: ${due.map((p) => p.name ?? p.dspUrl).join(', ')}`)
    return 0
  }
  // Each peer was made due at the connector's time `nextCrawlAt`: the crawl we wait for started then or later.
  const askedAt = new Map(due.map((p) => [p.id, Date.parse(p.nextCrawlAt ?? '')]))
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    const now = (await listPeers(client)).filter((p) => askedAt.has(p.id))
    const pending = now.filter((p) => !crawledSince(p, askedAt.get(p.id)!))
    if (pending.length === 0) {
      print(now, io, values.json === true)
      return now.some((p) => peerFreshness(p, Date.now()).state === 'failing') ? 1 : 0
    }
    if (Date.now() > deadline) {
      io.stderr(`gave up waiting after ${timeoutSeconds} s: ${pending.map((p) => p.name ?? p.dspUrl).join(', ')} not crawled yet`)
      return 1
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** A crawl that started at or after `since` has ended (a peer's last attempt is stamped when it ends). */
const crawledSince = (p: PeerStatus, since: number) => p.lastAttemptAt !== null && Date.parse(p.lastAttemptAt) - (p.lastDurationMs ?? 0) >= since

const listPeers = async (client: ManagementClient) => (await client.get<{ peers: PeerStatus[] }>('/peers')).peers

function print(peers: PeerStatus[], io: CliIo, json: boolean) {
  const now = Date.now()
  if (json) {
    io.stdout(JSON.stringify({ peers: peers.map((p) => ({ ...p, freshness: peerFreshness(p, now) })) }, null, 2))
    return
  }
  if (peers.length === 0) {
    io.stdout('no peers (add them under federation.peers in the configuration, or POST /management/v1/peers)')
    return
  }
  const rows = peers.map((p) => {
    const f = peerFreshness(p, now)
    return [f.name, p.status, String(p.datasetCount), p.dspUrl, f.summary]
  })
  io.stdout(table([['peer', 'status', 'datasets', 'dsp url', 'freshness'], ...rows]))
}
