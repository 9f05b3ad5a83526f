import type { Taxonomy } from './taxonomy.ts'

/**
 * A taxonomy as an indented tree, for stewards: what is a kind of what (`climate-research` under
 * `scientific-research` under `research`). A concept with several broader ones appears under each,
 * its narrower concepts under the first only (then "… see above"). Undefined when the taxonomy is
 * too large to print usefully (places: thousands of subdivisions).
 */
export function taxonomyTree(taxonomy: Taxonomy, options: { maxConcepts?: number } = {}): string[] | undefined {
  if (taxonomy.size > (options.maxConcepts ?? 500)) return undefined
  const names = taxonomy.names
  const children = new Map<string, string[]>()
  const roots: string[] = []
  for (const name of names) {
    const broader = taxonomy.broaderOf(name)
    if (broader.length === 0) roots.push(name)
    for (const parent of broader) children.set(parent, [...(children.get(parent) ?? []), name])
  }
  const lines: string[] = []
  const shown = new Set<string>()
  const visit = (name: string, depth: number) => {
    const label = taxonomy.label(name)
    const text = `${'  '.repeat(depth)}${name}${label && label !== name ? ` — ${label}` : ''}`
    const below = children.get(name) ?? []
    if (shown.has(name)) {
      lines.push(`${text}${below.length > 0 ? ' (… see above)' : ''}`)
      return
    }
    shown.add(name)
    lines.push(text)
    for (const child of below.sort()) visit(child, depth + 1)
  }
  for (const root of roots.sort()) visit(root, 0)
  return lines
}
