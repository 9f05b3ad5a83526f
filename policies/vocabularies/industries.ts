import { knownPrefixes, Taxonomy, type ConceptInput } from '../taxonomy.ts'

/**
 * Sectors for the `industry` operand, with their broader sector (`isA` follows it). Each is a
 * concept `https://w3id.org/passerelle/ns#<Name>Sector`; the short names are its aliases.
 */
export const industryParents: Record<string, string | null> = {
  any: null,
  research: 'any',
  'higher-education': 'research',
  'research-institute': 'research',
  'public-sector': 'any',
  'private-sector': 'any',
  government: 'public-sector',
  'public-administration': 'government',
  'meteorological-service': 'government',
  health: 'any',
  'public-health-agency': 'government',
  hospital: 'health',
  energy: 'private-sector',
  utilities: 'energy',
  agriculture: 'private-sector',
  forestry: 'agriculture',
  fisheries: 'agriculture',
  finance: 'private-sector',
  insurance: 'finance',
  banking: 'finance',
  transport: 'private-sector',
  maritime: 'transport',
  aviation: 'transport',
  media: 'private-sector',
  technology: 'private-sector',
  manufacturing: 'private-sector',
  'non-profit': 'any',
}

const sectorIri = (name: string) =>
  `${knownPrefixes.passerelle}${name
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}Sector`

export function industryConcepts(): ConceptInput[] {
  return Object.entries(industryParents).map(([name, parent]) => ({
    iri: sectorIri(name),
    label: name === 'any' ? 'any sector' : name.replace(/-/g, ' '),
    aliases: [name],
    broader: parent ? [parent] : [],
  }))
}

let shipped: Taxonomy | undefined
export function industryTaxonomy(): Taxonomy {
  if (!shipped) {
    const built = Taxonomy.build(industryConcepts(), { prefixes: knownPrefixes })
    if (!built.taxonomy) throw new Error(`the shipped sector taxonomy is broken: ${built.problems[0]?.message}`)
    shipped = built.taxonomy
  }
  return shipped
}
