// Regenerates the vocabularies the policy engine ships (policies/vocabularies/*.json) from their
// published sources; see policies/vocabularies/SOURCE.md for the versions and licences.
//
//   npx tsx scripts/generate-vocabularies.ts --dpv <DPV 2.2 dpv/modules/purposes.ttl> --iso <iso-codes json folder>
//
// The iso-codes folder is the one Debian's `iso-codes` package installs (iso_3166-1.json, iso_3166-2.json).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Parser } from 'n3'

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(`--${name}`)
  if (i === -1 || !args[i + 1]) throw new Error(`missing --${name}`)
  return args[i + 1]!
}
const out = new URL('../policies/vocabularies/', import.meta.url).pathname

// DPV purposes: every skos:Concept of the module that is a dpv:Purpose (or Purpose itself), with
// its English label and its broader concepts among them.
{
  const dpv = 'https://w3id.org/dpv#'
  const skos = 'http://www.w3.org/2004/02/skos/core#'
  const type = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type'
  const quads = new Parser({ format: 'text/turtle' }).parse(readFileSync(option('dpv'), 'utf8'))
  const purposes = new Set([`${dpv}Purpose`])
  for (const q of quads) if (q.predicate.value === type && q.object.value === `${dpv}Purpose`) purposes.add(q.subject.value)
  const label = new Map<string, string>()
  const broader = new Map<string, string[]>()
  for (const q of quads) {
    if (!purposes.has(q.subject.value)) continue
    if (q.predicate.value === `${skos}prefLabel` && q.object.termType === 'Literal' && q.object.language === 'en') label.set(q.subject.value, q.object.value)
    if (q.predicate.value === `${skos}broader` && purposes.has(q.object.value))
      broader.set(q.subject.value, [...(broader.get(q.subject.value) ?? []), q.object.value])
  }
  const local = (iri: string) => iri.slice(dpv.length)
  const concepts = [...purposes].sort().map((iri) => {
    const parents = (broader.get(iri) ?? []).map(local).sort()
    return parents.length > 0 ? [local(iri), label.get(iri) ?? local(iri), parents] : [local(iri), label.get(iri) ?? local(iri)]
  })
  writeFileSync(join(out, 'dpv-purposes.json'), `${JSON.stringify({ namespace: dpv, concepts })}\n`)
  console.log(`dpv-purposes.json: ${concepts.length} purposes`)
}

// ISO 3166-1 countries and ISO 3166-2 subdivisions; a subdivision's parent is its parent
// subdivision when iso-codes gives one (FR-75 → FR-IDF), else its country.
{
  const iso = option('iso')
  const countries = (JSON.parse(readFileSync(join(iso, 'iso_3166-1.json'), 'utf8'))['3166-1'] as Array<{ alpha_2: string; name: string }>)
    .map((c) => [c.alpha_2, c.name])
    .sort((a, b) => a[0]!.localeCompare(b[0]!))
  const subdivisions = (
    JSON.parse(readFileSync(join(iso, 'iso_3166-2.json'), 'utf8'))['3166-2'] as Array<{ code: string; name: string; type: string; parent?: string }>
  )
    .map((s) => [s.code, s.name, s.parent ? (s.parent.includes('-') ? s.parent : `${s.code.slice(0, 2)}-${s.parent}`) : s.code.slice(0, 2), s.type])
    .sort((a, b) => a[0]!.localeCompare(b[0]!))
  // One line per place, fields separated by tabs: two strings load far lighter than 5,000 small arrays.
  const lines = (rows: string[][]) => rows.map((row) => row.join('\t')).join('\n')
  const format = { countries: 'code, name', subdivisions: 'code, name, parent, type' }
  writeFileSync(join(out, 'iso-3166.json'), `${JSON.stringify({ format, countries: lines(countries), subdivisions: lines(subdivisions) })}\n`)
  console.log(`iso-3166.json: ${countries.length} countries, ${subdivisions.length} subdivisions`)
}
