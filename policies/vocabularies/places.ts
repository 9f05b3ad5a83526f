import { knownPrefixes, Taxonomy, type ConceptInput } from '../taxonomy.ts'
import iso from './iso-3166.json' with { type: 'json' }

/**
 * Places for the `spatial` operand, shipped by default: every ISO 3166-1 country (`FR`), every
 * ISO 3166-2 subdivision (`CA-QC`, `FR-75`, within its parent subdivision or its country), and
 * groupings that places are part of (`EU`, `EEA`, `EFTA`, `G7`, `NORTH-AMERICA`, Canada's
 * `CA-PROVINCES` and `CA-TERRITORIES`). Codes match whatever their case.
 *
 * IRIs: the DPV location vocabulary names ISO 3166 places by their code
 * (`https://w3id.org/dpv/loc#CA-QC`, also `#EU` and `#EEA`); the other groupings are ours
 * (`https://w3id.org/passerelle/ns#G7`).
 */
const loc = knownPrefixes.loc!
const ours = knownPrefixes.passerelle!

const eu = 'AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK'.split(' ')

/** Groupings: their IRI, label, and the places directly inside them. */
export const placeGroups: Record<string, { iri: string; label: string; members: string[]; within?: string[] }> = {
  EU: { iri: `${loc}EU`, label: 'the European Union', members: eu, within: ['EEA'] },
  EEA: { iri: `${loc}EEA`, label: 'the European Economic Area', members: ['IS', 'LI', 'NO'] },
  EFTA: { iri: `${ours}EFTA`, label: 'the European Free Trade Association', members: ['CH', 'IS', 'LI', 'NO'] },
  G7: { iri: `${ours}G7`, label: 'the G7 countries', members: ['CA', 'DE', 'FR', 'GB', 'IT', 'JP', 'US'] },
  'NORTH-AMERICA': { iri: `${ours}NorthAmerica`, label: 'North America', members: ['CA', 'US', 'MX'] },
  'CA-PROVINCES': { iri: `${ours}CanadianProvinces`, label: 'the provinces of Canada', members: [], within: ['CA'] },
  'CA-TERRITORIES': { iri: `${ours}CanadianTerritories`, label: 'the territories of Canada', members: [], within: ['CA'] },
}

const rows = (text: string) => text.split('\n').map((line) => line.split('\t'))

export function placeConcepts(): ConceptInput[] {
  const memberOf = new Map<string, string[]>()
  for (const [group, { members, within }] of Object.entries(placeGroups)) {
    for (const m of members) memberOf.set(m, [...(memberOf.get(m) ?? []), group])
    for (const w of within ?? []) memberOf.set(group, [...(memberOf.get(group) ?? []), w])
  }
  const concepts: ConceptInput[] = []
  for (const [group, { iri, label }] of Object.entries(placeGroups)) concepts.push({ iri, label, aliases: [group], broader: memberOf.get(group) ?? [] })
  for (const [code, name] of rows(iso.countries)) concepts.push({ iri: `${loc}${code}`, label: name!, aliases: [code!], broader: memberOf.get(code!) ?? [] })
  for (const [code, name, parent, type] of rows(iso.subdivisions)) {
    const broader = [parent!]
    if (code!.startsWith('CA-')) broader.push(type === 'Territory' ? 'CA-TERRITORIES' : 'CA-PROVINCES')
    concepts.push({ iri: `${loc}${code}`, label: name!, aliases: [code!], broader })
  }
  return concepts
}

/**
 * The shipped places as a table (indexes for broader places): what `Taxonomy.fromTable` takes,
 * read straight from the data, without the 5,400 concept objects and split rows `placeConcepts` makes.
 */
function placeTable() {
  const iris: string[] = []
  const labels: string[] = []
  const aliases: string[] = []
  const index = new Map<string, number>()
  const parentCodes: string[] = [] // a subdivision's parent code; '' for groupings and countries
  const territories = new Set<number>() // Canada's subdivisions of type Territory
  const place = (code: string) => {
    const i = index.get(code)
    if (i === undefined) throw new Error(`the shipped place data name an unknown place ${code}`)
    return i
  }
  const add = (code: string, iri: string, label: string, parent: string) => {
    index.set(code, aliases.length)
    iris.push(iri), labels.push(label), aliases.push(code), parentCodes.push(parent)
  }
  for (const [group, { iri, label }] of Object.entries(placeGroups)) add(group, iri, label, '')
  const read = (text: string, subdivisions: boolean) => {
    for (let at = 0; at < text.length; ) {
      const newline = text.indexOf('\n', at)
      const end = newline === -1 ? text.length : newline
      const tab = text.indexOf('\t', at)
      const code = text.slice(at, tab)
      if (subdivisions) {
        const tab2 = text.indexOf('\t', tab + 1)
        const tab3 = text.indexOf('\t', tab2 + 1)
        if (code.startsWith('CA-') && end - tab3 - 1 === 'Territory'.length && text.startsWith('Territory', tab3 + 1)) territories.add(aliases.length)
        add(code, loc + code, text.slice(tab + 1, tab2), text.slice(tab2 + 1, tab3))
      } else add(code, loc + code, text.slice(tab + 1, end), '')
      at = end + 1
    }
  }
  read(iso.countries, false)
  read(iso.subdivisions, true)
  // Broader places in the order `placeConcepts` gives them: groupings by `placeGroups` order, then parents.
  const parents: number[][] = new Array(aliases.length).fill(none)
  const broader = (child: number, parent: number) => {
    parents[child] = parents[child] === none ? [parent] : [...parents[child]!, parent]
  }
  for (const [group, { members, within }] of Object.entries(placeGroups)) {
    for (const m of members) broader(place(m), place(group))
    for (const w of within ?? []) broader(place(group), place(w))
  }
  const provinces = place('CA-PROVINCES')
  const canadianTerritories = place('CA-TERRITORIES')
  for (let i = 0; i < aliases.length; i++) {
    if (!parentCodes[i]) continue
    broader(i, place(parentCodes[i]!))
    if (aliases[i]!.startsWith('CA-')) broader(i, territories.has(i) ? canadianTerritories : provinces)
  }
  return { iris, labels, aliases, parents }
}
const none: number[] = []

let shipped: Taxonomy | undefined
export function placeTaxonomy(): Taxonomy {
  // The concepts are made again if the taxonomy is ever extended, rather than kept in memory.
  return (shipped ??= Taxonomy.fromTable(placeTable(), { prefixes: knownPrefixes, foldCase: true, inputs: placeConcepts, namespace: loc }))
}

/** True when `inner` lies within `outer` (or is it); any spelling of either (code, IRI, any case). */
export function placeWithin(inner: string, outer: string): boolean {
  const places = placeTaxonomy()
  const a = places.canonical(inner)
  const b = places.canonical(outer)
  return a !== undefined && b !== undefined && places.within(a, b)
}

/** A place's readable name (`CA-QC` → Quebec, `EU` → the European Union); the code when unknown. */
export const placeLabel = (code: string): string => placeGroups[code]?.label ?? placeTaxonomy().label(code) ?? code
