import type { LintError } from './types.ts'
import { shippedTaxonomies } from './registry.ts'
import { Taxonomy } from './taxonomy.ts'
import { readTaxonomyText, taxonomyFormat, type TaxonomyFormat } from './taxonomy-files.ts'

/** A vocabulary text to add to an operand's taxonomy: a steward's file, or the data space's published vocabulary. */
export interface TaxonomySource {
  operand: string
  /** A file name or URL, for messages (its extension gives the format when `format` is not given). */
  file: string
  text: string
  format?: TaxonomyFormat
}

/**
 * The taxonomies of a registry: the shipped ones of `purpose`, `spatial` and `industry`, extended
 * with the sources given for them, and those of configured `taxonomy` operands. A source with any
 * problem adds nothing (the operand keeps what it had without it), so a broken file is never half
 * applied; policies naming its concepts are then refused by lint, never silently allowed.
 */
export async function buildTaxonomies(
  sources: TaxonomySource[],
  taxonomyOperands: string[],
): Promise<{ taxonomies: Record<string, Taxonomy>; errors: LintError[] }> {
  const errors: LintError[] = []
  const shipped = shippedTaxonomies()
  const taxonomies: Record<string, Taxonomy> = {}
  const byOperand = new Map<string, TaxonomySource[]>()
  for (const source of sources) {
    if (!(source.operand in shipped) && !taxonomyOperands.includes(source.operand)) {
      errors.push({
        file: source.file,
        line: 1,
        field: '(vocabulary)',
        message: `the operand \`${source.operand}\` takes no taxonomy`,
        suggestion: `give it to purpose, spatial, industry or an operand declared with dataType: taxonomy${taxonomyOperands.length ? ` (${taxonomyOperands.join(', ')})` : ''}`,
      })
      continue
    }
    byOperand.set(source.operand, [...(byOperand.get(source.operand) ?? []), source])
  }
  for (const [operand, list] of byOperand) {
    let taxonomy = shipped[operand] ?? Taxonomy.build([]).taxonomy!
    for (const source of list) {
      const format = source.format ?? taxonomyFormat(source.file)
      if (!format) {
        errors.push({
          file: source.file,
          line: 1,
          field: '(vocabulary)',
          message: 'the format of this vocabulary is not known',
          suggestion: 'name it .ttl (Turtle), .jsonld (JSON-LD) or .yaml',
        })
        continue
      }
      const read = await readTaxonomyText(source.text, source.file, format)
      const built = read.problems.length === 0 ? taxonomy.extend(read.concepts) : { problems: read.problems }
      if (built.taxonomy) taxonomy = built.taxonomy
      for (const p of built.problems) {
        errors.push({
          file: p.file,
          line: p.line,
          column: p.column,
          field: '(vocabulary)',
          message: p.message,
          ...(p.suggestion ? { suggestion: p.suggestion } : {}),
        })
      }
    }
    taxonomies[operand] = taxonomy
  }
  return { taxonomies, errors }
}
