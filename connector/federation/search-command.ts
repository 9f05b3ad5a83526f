import { parseArgs } from 'node:util'
import { formatSearchTable, type SearchPage } from '../../catalog/index.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { createManagementClient } from '../cli/management-client.ts'
import { peerFreshness, type PeerFreshness } from './freshness.ts'
import type { PeerStatus } from './peers.ts'
import { searchHelp } from './cli-help.ts'

export async function runSearchCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      peer: { type: 'string' },
      theme: { type: 'string' },
      license: { type: 'string' },
      spatial: { type: 'string' },
      format: { type: 'string' },
      action: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'modified-since': { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean' },
      hit: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    io.stdout(searchHelp)
    return 0
  }
  const query = new URLSearchParams()
  const q = positionals.join(' ').trim()
  if (q) query.set('q', q)
  const pairs: Array<[string, string | undefined]> = [
    ['peer', values.peer],
    ['theme', values.theme],
    ['license', values.license],
    ['spatial', values.spatial],
    ['format', values.format],
    ['action', values.action],
    ['temporalFrom', values.from],
    ['temporalTo', values.to],
    ['modifiedSince', values['modified-since']],
    ['limit', values.limit],
    ['offset', values.offset],
    ['cursor', values.cursor],
  ]
  for (const [key, value] of pairs) if (value !== undefined) query.set(key, value)
  let hitIndex: number | undefined
  if (values.hit !== undefined) {
    hitIndex = Number(values.hit)
    if (!Number.isInteger(hitIndex) || hitIndex < 1) throw new UsageError('--hit expects a number from 1')
  }
  const client = createManagementClient({ config: values.config, url: values.url, key: values.key }, io)
  const [page, peers] = await Promise.all([
    client.get<SearchPage>(`/federated-catalog${query.size > 0 ? `?${query}` : ''}`),
    hitIndex === undefined ? client.get<{ peers: PeerStatus[] }>('/peers').then((r) => r.peers) : [],
  ])
  if (hitIndex !== undefined) {
    const hit = page.hits[hitIndex - 1]
    if (!hit) throw new UsageError(`no hit ${hitIndex} on this page (it has ${page.hits.length})`, 1)
    io.stdout(JSON.stringify(hit, null, 2))
    return 0
  }
  const freshness = freshnessOf(page, peers)
  if (values.json) {
    io.stdout(JSON.stringify({ ...page, peers: freshness }, null, 2))
    return 0
  }
  io.stdout(formatSearchTable(page, { width: Number(io.env.COLUMNS) || 160 }))
  if (freshness.length > 0) io.stdout(['', ...freshness.map((f) => `${f.name}: ${f.summary}`)].join('\n'))
  return 0
}

/** The peers of the page's hits, and every failing peer (what it holds may be missing from the page). */
function freshnessOf(page: SearchPage, peers: PeerStatus[]): PeerFreshness[] {
  const now = Date.now()
  const shown = new Set(page.hits.map((h) => h.peer.id))
  return peers.map((p) => peerFreshness(p, now)).filter((f) => shown.has(f.id) || f.state === 'failing')
}
