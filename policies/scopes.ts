import type { Scope } from './types.ts'
import { scopes } from './types.ts'

/**
 * Where each left operand decides: the one table the engine reads (registry.ts takes each
 * operand's scopes from here) and the steward guide shows (docs/data-steward-guide.md, checked
 * against `scopeTableMarkdown()` by a test). At a scope it lists, the operand must decide: a value
 * the request does not give is unknown, and unknown refuses. Elsewhere it decides only when the
 * request carries its value, and is otherwise deferred (neither grants nor refuses there).
 *
 * What the requester declares (purpose, place of processing, sector) is decided when it
 * negotiates: the agreement records the commitment. What it proves with credentials is decided in
 * the catalog and at negotiation. Counters and time since the agreement exist only under an
 * agreement. The date and the recipient decide everywhere, except that at negotiation a start date
 * not reached yet (an embargo) is left to the accesses.
 *
 * A policy may override the scopes of one constraint (`scopes:` beside `leftOperand`) or of every
 * constraint on an operand (`scopes: { dateTime: [...] }` at the top of the file): the constraint
 * then decides at exactly those scopes (unknown refuses there, and a start date is decided at
 * negotiation too), and is deferred everywhere else.
 */
export interface ScopeRow {
  /** The operands of the row, as the guide names them. */
  operands: string[]
  scopes: readonly Scope[]
  /** A remark for one scope's cell (the embargo rule). */
  notes?: Partial<Record<Scope, string>>
}

export const everywhere: readonly Scope[] = ['catalog', 'negotiation', 'transfer', 'monitor']
export const declared: readonly Scope[] = ['negotiation']
export const proven: readonly Scope[] = ['catalog', 'negotiation']
export const underAgreement: readonly Scope[] = ['transfer', 'monitor']

export const scopeTable = {
  declared: { operands: ['purpose', 'spatial', 'industry'], scopes: declared },
  proven: { operands: ['membership', 'credential.<Type>.<claim>'], scopes: proven },
  dateTime: {
    operands: ['dateTime'],
    scopes: everywhere,
    notes: { negotiation: 'a start date (`gt`, `gteq`) not reached yet is deferred to the accesses (an embargo)' },
  },
  underAgreement: { operands: ['elapsedTime', 'count'], scopes: underAgreement },
  recipient: { operands: ['recipient'], scopes: everywhere },
  configured: {
    operands: ['an operand of `registry.yaml` (unless its `scopes` say otherwise; one read from a credential: as `membership`)'],
    scopes: declared,
  },
} as const satisfies Record<string, ScopeRow>

/** The guide's column headings: "transfer" is the start of a transfer and every download. */
const headings: Record<Scope, string> = { catalog: 'catalog', negotiation: 'negotiation', transfer: 'transfer (access)', monitor: 'monitor' }

/** The table as the steward guide shows it (Markdown). */
export function scopeTableMarkdown(): string {
  const rows = Object.values(scopeTable) as ScopeRow[]
  const cell = (row: ScopeRow, scope: Scope) => {
    const decides = row.scopes.includes(scope) ? 'decides' : 'if given'
    const note = row.notes?.[scope]
    return note ? `${decides}; ${note}` : decides
  }
  const name = (row: ScopeRow) => row.operands.map((o) => (o.startsWith('an ') ? o : `\`${o}\``)).join(', ')
  return [
    `| operand | ${scopes.map((s) => headings[s]).join(' | ')} |`,
    `|---|${scopes.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${name(row)} | ${scopes.map((s) => cell(row, s)).join(' | ')} |`),
  ].join('\n')
}
