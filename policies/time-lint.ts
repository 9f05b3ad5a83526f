import type { CompiledPolicy, Constraint } from './types.ts'
import { parseDateTime } from './values.ts'

/** A policy that is valid but cannot do what its steward meant; lint prints it and still passes. */
export interface PolicyWarning {
  file: string
  policy: string
  /** Where, e.g. `permissions[0].constraints[1]`. */
  field: string
  message: string
}

/**
 * Permissions that can never be met any more: a condition every request must meet (not one
 * alternative of an `or`) that puts the time of the request before a date that has passed. Such a
 * policy refuses everything, for ever, and is almost always an end date left behind.
 */
export function timeWarnings(policy: CompiledPolicy, now: Date): PolicyWarning[] {
  const out: PolicyWarning[] = []
  const visit = (c: Constraint, field: string, rule: string) => {
    if (c.kind === 'logical') {
      if (c.operator === 'and' || c.operator === 'andSequence') c.constraints.forEach((inner, k) => visit(inner, `${field}.${c.operator}[${k}]`, rule))
      return
    }
    if (policy.registry.get(c.leftOperand)?.name !== 'dateTime') return
    const values = Array.isArray(c.rightOperand) ? c.rightOperand : [c.rightOperand]
    const bound = values.length === 1 ? parseDateTime(values[0]) : undefined
    if (bound === undefined) return
    const passed =
      (c.operator === 'lt' && bound <= now.getTime()) || (c.operator === 'lteq' && bound < now.getTime()) || (c.operator === 'eq' && bound < now.getTime())
    if (!passed) return
    out.push({
      file: policy.sourceFile,
      policy: policy.id,
      field,
      message: `${rule} can never be met: the date and time must be ${c.operator === 'eq' ? '' : 'before '}${String(values[0])}, which has passed (an end date left behind?)`,
    })
  }
  policy.model.permissions.forEach((rule, i) => {
    const label = `permission ${i + 1} (${rule.action})`
    rule.constraints.forEach((c, j) => visit(c, `permissions[${i}].constraints[${j}]`, label))
  })
  return out
}
