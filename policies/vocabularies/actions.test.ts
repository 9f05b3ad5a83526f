import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Parser } from 'n3'
import { actionIncludedIn, actionParents, currentAction, deprecatedActions, isKnownAction } from './actions.ts'

/** The ODRL 2.2 vocabulary, as W3C publishes it: the action hierarchy is checked against it, relation by relation. */
const odrl = 'http://www.w3.org/ns/odrl/2/'
const quads = new Parser({ format: 'text/turtle' }).parse(readFileSync(new URL('../../spec/odrl-2.2/ODRL22.ttl', import.meta.url), 'utf8'))
const objects = (predicate: string) => quads.filter((q) => q.predicate.value === predicate)
const deprecated = new Set(objects('http://www.w3.org/2002/07/owl#deprecated').map((q) => q.subject.value))
const actions = new Set(
  quads
    .filter((q) => q.predicate.value === 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type' && q.object.value === `${odrl}Action`)
    .map((q) => q.subject.value),
)
const current = [...actions].filter((a) => a.startsWith(odrl) && !deprecated.has(a)).map((a) => a.slice(odrl.length))
const relation = (name: string) =>
  objects(`${odrl}${name}`)
    .filter((q) => q.subject.value.startsWith(odrl) && q.object.value.startsWith(odrl))
    .map((q) => [q.subject.value.slice(odrl.length), q.object.value.slice(odrl.length)] as [string, string])
const includedIn = [...new Map(relation('includedIn').map((r) => [r.join(' '), r])).values()]

describe("the action hierarchy is the ODRL 2.2 vocabulary's", () => {
  it.each(includedIn)('%s is included in %s', (child, parent) => {
    expect(actionParents()[child]).toBe(parent)
    expect(actionIncludedIn(child, parent)).toBe(true)
    expect(actionIncludedIn(parent, child)).toBe(false)
  })

  it('states no other relation: every parent the engine knows is one the vocabulary states', () => {
    const stated = new Set(includedIn.map((r) => r.join(' ')))
    for (const [child, parent] of Object.entries(actionParents())) {
      if (parent !== null) expect(stated.has(`${child} ${parent}`), `${child} includedIn ${parent}`).toBe(true)
      else
        expect(
          includedIn.some(([c]) => c === child),
          `${child} is a root`,
        ).toBe(false)
    }
    expect(relation('implies')).toEqual([])
  })

  it('knows every current ODRL action, and no deprecated one', () => {
    expect(current.filter((a) => !isKnownAction(a))).toEqual([])
    const deprecatedNames = [...deprecated].filter((d) => actions.has(d) && d.startsWith(odrl)).map((d) => d.slice(odrl.length))
    expect(deprecatedNames.filter((a) => isKnownAction(a))).toEqual([])
    expect(Object.keys(deprecatedActions).sort()).toEqual(deprecatedNames.sort())
  })

  it('reads a requested deprecated action as the one the vocabulary says it exactly is', () => {
    const exact = objects('http://www.w3.org/2004/02/skos/core#exactMatch').filter(
      (q) => deprecated.has(q.subject.value) && actions.has(q.subject.value) && q.object.value.startsWith(odrl),
    )
    expect(exact.length).toBeGreaterThan(0)
    for (const q of exact) expect(currentAction(q.subject.value)).toBe(q.object.value.slice(odrl.length))
    expect(isKnownAction('constructor')).toBe(false)
    expect(actionIncludedIn('toString', 'use')).toBe(false)
  })
})
