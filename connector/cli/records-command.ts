import { parseArgs } from 'node:util'
import { policyLabelOf, policyPhrase } from '../../policies/index.ts'
import { createManagementClient } from './management-client.ts'
import { UsageError, type CliIo } from './io.ts'
import { recordsHelp, type RecordKind } from './command-help.ts'

/**
 * `passerelle negotiations|agreements|transfers list|show`: the participant's own records, read from
 * the running connector's management API, as a table (or `--json`, the API's answer as it is).
 */
type Row = Record<string, unknown>
type Kind = RecordKind

const text = (v: unknown) => (v === null || v === undefined ? '' : String(v))
const short = (v: unknown, n = 40) => {
  const s = text(v)
  return s.length > n ? `${s.slice(0, n - 1)}…` : s
}
const policyOf = (body: unknown) => {
  const label = policyLabelOf(body)
  return label ? policyPhrase(label).replace(/^policy /, '') : ''
}

/** Fixed-width columns, the last one free. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n')
}

const columns: Record<Kind, { head: string[]; row: (r: Row) => string[] }> = {
  negotiations: {
    head: ['id', 'role', 'state', 'dataset', 'policy', 'peer', 'updated'],
    row: (r) => [
      text(r.id),
      text(r.role),
      text(r.state),
      short(r.datasetId),
      policyOf(r.offer) || short(r.offerId),
      short(r.counterpartyId),
      text(r.updatedAt),
    ],
  },
  agreements: {
    head: ['id', 'role', 'dataset', 'policy', 'provider', 'consumer', 'signed'],
    row: (r) => [text(r['@id']), text(r.role), short(r.target), policyOf(r), short(r.assigner), short(r.assignee), text(r.timestamp)],
  },
  transfers: {
    head: ['id', 'role', 'state', 'format', 'agreement', 'bytes', 'reason'],
    row: (r) => [text(r.id), text(r.role), text(r.state), text(r.format), text(r.agreementId), text(r.bytesMoved ?? 0), short(r.reason, 80)],
  },
}

/** The duties of an agreement's permissions and its obligations, one line each. */
export function dutyLines(agreement: Row): string[] {
  const action = (a: unknown) =>
    typeof a === 'string' ? a : typeof a === 'object' && a !== null ? text((a as Row)['rdf:value'] && ((a as Row)['rdf:value'] as Row)['@id']) : ''
  const lines: string[] = []
  const list = (v: unknown) => (Array.isArray(v) ? (v as Row[]) : v && typeof v === 'object' ? [v as Row] : [])
  list(agreement.permission).forEach((p, i) => {
    list(p.duty).forEach((d, j) => void lines.push(`permission ${i + 1} (${action(p.action)}), duty ${j + 1}: ${action(d.action)}`))
  })
  list(agreement.obligation).forEach(
    (o, i) => void lines.push(`obligation ${i + 1}: ${action(o.action)}${o.constraint ? ' (with conditions: see --json)' : ''}`),
  )
  return lines
}

export function recordsCommand(kind: Kind) {
  return async (args: string[], io: CliIo): Promise<number> => {
    if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
      io.stdout(recordsHelp(kind))
      return args.length === 0 ? 2 : 0
    }
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        state: { type: 'string' },
        limit: { type: 'string' },
        config: { type: 'string' },
        url: { type: 'string' },
        key: { type: 'string' },
      },
    })
    const [sub, id, ...extra] = positionals
    if (extra.length > 0 || (sub !== 'list' && sub !== 'show')) throw new UsageError(`expected list or show ID (see passerelle ${kind} --help)`)
    if (sub === 'show' && !id) throw new UsageError(`expected the id to show: passerelle ${kind} show ID`)
    if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError(`--limit expects a number, got '${values.limit}'`)
    const client = createManagementClient({ config: values.config, url: values.url, key: values.key }, io)
    if (sub === 'list') {
      const query = new URLSearchParams({
        ...(values.state ? { state: values.state } : {}),
        ...(values.limit ? { limit: values.limit } : {}),
      }).toString()
      const answer = await client.get<{ items: Row[] }>(`/${kind}${query ? `?${query}` : ''}`)
      if (values.json) {
        io.stdout(JSON.stringify(answer, null, 2))
        return 0
      }
      // The agreements route has no state filter: every agreement it lists is in force.
      const items = answer.items
      if (items.length === 0) {
        io.stdout(`no ${kind}`)
        return 0
      }
      io.stdout(table([columns[kind].head, ...items.map(columns[kind].row)]))
      return 0
    }
    const record = await client.get<Row>(`/${kind}/${encodeURIComponent(id!)}`)
    if (values.json) {
      io.stdout(JSON.stringify(record, null, 2))
      return 0
    }
    const head = columns[kind].head
    const cells = columns[kind].row(record)
    io.stdout(table(head.map((h, i) => [h, cells[i] ?? ''])))
    if (record.reason) io.stdout(`reason     ${text(record.reason)}`)
    if (kind === 'agreements') {
      const duties = dutyLines(record)
      io.stdout(duties.length === 0 ? 'duties     none' : `duties     ${duties.join('\n           ')}`)
    }
    const timeline = Array.isArray(record.timeline) ? (record.timeline as Row[]) : []
    if (timeline.length > 0) {
      io.stdout('timeline')
      for (const e of timeline) io.stdout(`  ${text(e.at)}  ${text(e.toState).padEnd(11)} ${text(e.kind ?? e.cause)}${e.reason ? `: ${text(e.reason)}` : ''}`)
    }
    return 0
  }
}
