import type { CompiledPolicy, PolicyModel, Rule } from './types.ts'
import { defaultRegistry, type Registry } from './registry.ts'
import { actionName, dutyText, partyName, requirement } from './phrases.ts'
import { actionIncludedIn } from './vocabularies/actions.ts'

/**
 * The policy in plain language, one sentence per rule, e.g.
 * "Permitted: `use`, provided that the purpose is a kind of `research`. The requester must credit
 * the provider (attribution)."
 */
export function explainPolicy(policy: CompiledPolicy | PolicyModel, options: { registry?: Registry } = {}): string {
  const compiled = 'model' in policy ? policy : undefined
  const model = compiled ? compiled.model : (policy as PolicyModel)
  const registry = options.registry ?? compiled?.registry ?? defaultRegistry()
  const lines: string[] = []
  if (compiled) lines.push(`${compiled.title} (policy \`${compiled.id}\`).${compiled.description ? ` ${compiled.description.trim()}` : ''}`)
  const who = (rule: Rule) => {
    const party = rule.assignee ?? model.assignee
    return party ? ` by ${partyName(party)}` : ''
  }
  const conditions = (rule: Rule) =>
    rule.constraints.length > 0 ? `, provided that ${rule.constraints.map((c) => requirement(c, registry)).join(', and ')}` : ''
  // A refined action is narrower than its name: "`use` (only where the number of accesses …)".
  const refined = (rule: Rule) =>
    rule.actionRefinement?.length ? ` (only where ${rule.actionRefinement.map((c) => requirement(c, registry)).join(', and ')})` : ''
  const act = (rule: Rule) => (rule.action ? `${actionName(rule.action)}${refined(rule)}` : 'no action (the policy is invalid)')
  for (const rule of model.permissions) {
    lines.push(`Permitted: ${act(rule)}${who(rule)}${conditions(rule)}.`)
    for (const duty of rule.duties) lines.push(`  In return, the requester must ${dutyText(duty, registry)}.`)
  }
  for (const rule of model.prohibitions) {
    const when = rule.constraints.length > 0 ? `, when ${rule.constraints.map((c) => requirement(c, registry)).join(', and ')}` : ''
    lines.push(`Forbidden: ${act(rule)}${who(rule)}${when}.`)
    for (const remedy of rule.duties) lines.push(`  If it happens anyway, the requester must ${dutyText(remedy, registry)}.`)
  }
  for (const rule of model.obligations) lines.push(`Obligation: the requester must ${dutyText(rule, registry)}.`)
  const overlap = model.permissions.some((p) =>
    model.prohibitions.some((q) => !p.action || !q.action || actionIncludedIn(q.action, p.action) || actionIncludedIn(p.action, q.action)),
  )
  if (overlap) {
    const strategy = model.conflict ?? 'invalid'
    lines.push(
      strategy === 'perm'
        ? 'Where a permission and a prohibition both apply, the permission prevails.'
        : strategy === 'prohibit'
          ? 'Where a permission and a prohibition both apply, the prohibition prevails.'
          : 'Where a permission and a prohibition both apply, the request is refused (the policy is void for it).',
    )
  }
  if (model.profile?.length) lines.push(`It follows the ODRL profile${model.profile.length > 1 ? 's' : ''} ${model.profile.map((p) => `\`${p}\``).join(', ')}.`)
  if (model.permissions.length === 0) lines.push('Nothing is permitted.')
  else lines.push('Anything not permitted here is refused.')
  return lines.join('\n')
}
