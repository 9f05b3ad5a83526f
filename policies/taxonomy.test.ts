import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compilePolicyText, createRegistry, evaluate, loadPolicies, policyFromOdrl, offerFor } from './index.ts'
import type { CompiledPolicy, EvaluationContext, LintError } from './index.ts'
import { Taxonomy, type ConceptInput } from './taxonomy.ts'
import { readTaxonomyText } from './taxonomy-files.ts'
import { buildTaxonomies } from './taxonomy-sources.ts'
import { purposeTaxonomy } from './vocabularies/purposes.ts'
import { placeTaxonomy, placeWithin } from './vocabularies/places.ts'

const now = new Date('2026-06-01T12:00:00Z')
const context = (extra: Partial<EvaluationContext> = {}): EvaluationContext => ({
  scope: 'negotiation',
  action: 'use',
  assignee: 'did:web:lab.example',
  credentials: [],
  now,
  ...extra,
})

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'taxonomies-'))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return dir
}

async function compiled(text: string, options: Parameters<typeof compilePolicyText>[2] = {}): Promise<CompiledPolicy> {
  const result = await compilePolicyText(text, 'policy.yaml', options)
  expect(result.errors).toEqual([])
  return result.policy!
}

const constraintPolicy = (operand: string, operator: string, right: string) => `id: p
permissions:
  - action: use
    constraints:
      - leftOperand: ${operand}
        operator: ${operator}
        rightOperand: ${right}
`

describe('the shipped vocabularies', () => {
  it('DPV purposes and our own sit in one taxonomy, and the short names are aliases of their IRIs', () => {
    const purposes = purposeTaxonomy()
    expect(purposes.iri('research')).toBe('https://w3id.org/dpv#ResearchAndDevelopment')
    expect(purposes.iri('dpv:ScientificResearch')).toBe('https://w3id.org/dpv#ScientificResearch')
    expect(purposes.iri('ai-model-training')).toBe('https://w3id.org/passerelle/ns#AIModelTraining')
    expect(purposes.canonical('https://w3id.org/dpv#Marketing')).toBe('marketing')
    expect(purposes.within('climate-research', 'research')).toBe(true)
    expect(purposes.within(purposes.canonical('dpv:AcademicResearch')!, 'research')).toBe(true)
    expect(purposes.within('model-fine-tuning', 'ai-model-training')).toBe(true)
    expect(purposes.within('ai-model-training', 'research')).toBe(false)
    expect(purposes.within('research-ai-training', 'research')).toBe(false)
    expect(purposes.within('research', 'climate-research')).toBe(false)
    expect(purposes.size).toBeGreaterThan(150)
  })

  it('every ISO 3166-1 country and 3166-2 subdivision is a place, within its parent, country and groupings', () => {
    const places = placeTaxonomy()
    expect(places.size).toBeGreaterThan(5300)
    expect(placeWithin('FR-75', 'FR-IDF')).toBe(true)
    expect(placeWithin('FR-75', 'EU')).toBe(true)
    expect(placeWithin('fr-75', 'https://w3id.org/dpv/loc#FR')).toBe(true)
    expect(placeWithin('https://w3id.org/dpv/loc#CA-QC', 'CA')).toBe(true)
    expect(placeWithin('CA-QC', 'CA-PROVINCES')).toBe(true)
    expect(placeWithin('CA-NU', 'CA-TERRITORIES')).toBe(true)
    expect(placeWithin('CA-NU', 'CA-PROVINCES')).toBe(false)
    expect(placeWithin('DE-BY', 'EEA')).toBe(true)
    expect(placeWithin('NO', 'EEA')).toBe(true)
    expect(placeWithin('NO', 'EU')).toBe(false)
    expect(placeWithin('CA', 'CA-QC')).toBe(false)
    expect(places.label('CA-QC')).toBe('Quebec')
    expect(places.indexOf('XX-YYY')).toBeUndefined()
  })

  it('finds a place by its IRI or prefixed name, and no grouping under an IRI that is not its own', () => {
    const places = placeTaxonomy()
    expect(places.canonical('https://w3id.org/dpv/loc#CA-QC')).toBe('CA-QC')
    expect(places.canonical('loc:CA-QC')).toBe('CA-QC')
    expect(places.canonical('https://w3id.org/dpv/loc#EU')).toBe('EU')
    expect(places.canonical('https://w3id.org/passerelle/ns#G7')).toBe('G7')
    expect(places.canonical('passerelle:NorthAmerica')).toBe('NORTH-AMERICA')
    // G7 is ours, not a DPV location; NORTH-AMERICA's IRI is not its short name.
    expect(places.indexOf('https://w3id.org/dpv/loc#G7')).toBeUndefined()
    expect(places.indexOf('loc:G7')).toBeUndefined()
    expect(places.indexOf('https://w3id.org/dpv/loc#NORTH-AMERICA')).toBeUndefined()
    expect(places.indexOf('https://w3id.org/passerelle/ns#CA-QC')).toBeUndefined()
    expect(places.indexOf('https://w3id.org/dpv/loc#')).toBeUndefined()
    expect(places.iri('qc-ca')).toBeUndefined()
    expect(places.iri('ca-qc')).toBe('https://w3id.org/dpv/loc#CA-QC')
    expect(places.broaderOf('loc:CA-QC')).toEqual(['CA', 'CA-PROVINCES'])
  })
})

describe('operators over taxonomies', () => {
  it.each([
    ['purpose', 'isA', 'research', 'climate-research', true],
    ['purpose', 'isA', 'https://w3id.org/dpv#ResearchAndDevelopment', 'climate-research', true],
    ['purpose', 'isA', 'research', 'https://w3id.org/passerelle/ns#ClimateResearch', true],
    ['purpose', 'isA', 'dpv:ScientificResearch', 'hydrological-research', true],
    ['purpose', 'isA', 'research', 'marketing', false],
    ['purpose', 'eq', 'marketing', 'https://w3id.org/dpv#Marketing', true],
    ['purpose', 'eq', 'dpv:Marketing', 'advertising', false],
    ['purpose', 'neq', 'marketing', 'dpv:Marketing', false],
    ['purpose', 'isNoneOf', '[marketing]', 'https://w3id.org/dpv#TargetedAdvertising', false],
    ['purpose', 'isNoneOf', '[marketing]', 'climate-research', true],
    ['purpose', 'isAnyOf', '[education, "https://w3id.org/dpv#ScientificResearch"]', 'teaching', true],
    ['purpose', 'isAnyOf', '[education, "https://w3id.org/dpv#ScientificResearch"]', 'commercial', false],
    ['spatial', 'isPartOf', 'EU', 'https://w3id.org/dpv/loc#DE-BY', true],
    ['spatial', 'isPartOf', 'https://w3id.org/dpv/loc#CA', 'ca-qc', true],
    ['spatial', 'isPartOf', 'loc:EU', 'CH', false],
    ['spatial', 'hasPart', 'CA-QC', 'CA', true],
    ['spatial', 'hasPart', 'CA-QC', 'FR', false],
    ['spatial', 'eq', 'https://w3id.org/dpv/loc#FR', 'fr', true],
    ['spatial', 'isNoneOf', '[CA-TERRITORIES]', 'CA-YT', false],
    ['industry', 'isA', 'health', 'https://w3id.org/passerelle/ns#HospitalSector', true],
  ] as const)('%s %s %s holds for %s: %s', async (operand, operator, right, actual, expected) => {
    const policy = await compiled(constraintPolicy(operand, operator, right))
    expect(evaluate(policy, context({ [operand]: actual })).allowed).toBe(expected)
  })

  it('isAllOf: the request declares every listed purpose (or a narrower one)', async () => {
    const policy = await compiled(constraintPolicy('purpose', 'isAllOf', '[research, education]'))
    expect(evaluate(policy, context({ purpose: ['climate-research', 'teaching'] })).allowed).toBe(true)
    expect(evaluate(policy, context({ purpose: ['climate-research'] })).allowed).toBe(false)
  })

  it('a request naming a concept no taxonomy knows is refused as unknown, even by isNoneOf', async () => {
    const policy = await compiled(constraintPolicy('purpose', 'isNoneOf', '[marketing]'))
    const decision = evaluate(policy, context({ purpose: 'https://evil.example/NotMarketing' }))
    expect(decision.allowed).toBe(false)
    expect(decision.trace[0]!.outcome).toBe('unknown')
  })

  it("a peer's offer naming an unknown concept is refused as invalid, with the term", () => {
    const odrl = {
      '@id': 'urn:uuid:1',
      '@type': 'Offer',
      assigner: 'did:web:p.example',
      permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'isNoneOf', rightOperand: ['https://w3id.org/dpv#NoSuchPurpose'] }] }],
    }
    const read = policyFromOdrl(odrl)
    expect(read.model).toBeUndefined()
    expect(read.errors).toEqual(['permission[0].constraint[0].rightOperand[0]: `https://w3id.org/dpv#NoSuchPurpose` is not a known purpose'])
  })

  it('allows research but refuses training a model, including training for research', async () => {
    const policy = await compiled(`id: research-not-training
conflict: prohibit
permissions:
  - action: use
    constraints:
      - { leftOperand: purpose, operator: isA, rightOperand: research }
prohibitions:
  - action: use
    constraints:
      - { leftOperand: purpose, operator: isA, rightOperand: "https://w3id.org/passerelle/ns#AIModelTraining" }
`)
    expect(evaluate(policy, context({ purpose: 'climate-research' })).allowed).toBe(true)
    expect(evaluate(policy, context({ purpose: 'dpv:ScientificResearch' })).allowed).toBe(true)
    for (const purpose of ['ai-model-training', 'model-fine-tuning', 'research-ai-training', ['climate-research', 'model-training']]) {
      const decision = evaluate(policy, context({ purpose }))
      expect(decision.allowed, String(purpose)).toBe(false)
    }
    const refused = evaluate(policy, context({ purpose: ['climate-research', 'model-fine-tuning'] }))
    expect(refused.reason).toContain('research-not-training')
    expect(refused.reason).toContain('model-fine-tuning')
  })

  it("the offer carries the policy's values as written, and reads back to the same decisions", async () => {
    const policy = await compiled(constraintPolicy('purpose', 'isA', 'dpv:ScientificResearch'))
    const read = policyFromOdrl(offerFor(policy, 'urn:dataset:1', { assigner: 'did:web:p.example' }))
    expect(evaluate(read.model!, context({ purpose: 'climate-research' })).allowed).toBe(true)
    expect(evaluate(read.model!, context({ purpose: 'marketing' })).allowed).toBe(false)
  })
})

describe('lint over taxonomies', () => {
  it.each([
    ['dpv:ScientificReserch', 'did you mean `dpv:ScientificResearch`?'],
    ['https://w3id.org/dpv#Marketting', 'did you mean `https://w3id.org/dpv#Marketing`?'],
  ])('suggests the closest known concept for %s, written the same way', async (value, suggestion) => {
    const result = await compilePolicyText(constraintPolicy('purpose', 'isA', value), 'p.yaml')
    expect(result.errors).toHaveLength(1)
    expect(`${result.errors[0]!.message} ${result.errors[0]!.suggestion ?? ''}`).toContain(suggestion)
  })

  it('suggests the closest short name, and a place code', async () => {
    const purpose = await compilePolicyText(constraintPolicy('purpose', 'isA', 'climat-research'), 'p.yaml')
    expect(purpose.errors[0]!.suggestion).toBe('did you mean `climate-research`?')
    const place = await compilePolicyText(constraintPolicy('spatial', 'isPartOf', 'CA-QQ'), 'p.yaml')
    expect(place.errors[0]!.message).toMatch(/`CA-QQ` is not a known ISO 3166 place or grouping; did you mean `CA-[A-Z]{2}`\?/)
  })
})

const turtle = `@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <https://dataspace.example/purposes#> .

ex:ClimateModelTraining a skos:Concept ;
  skos:prefLabel "Training climate models"@en ;
  skos:notation "climate-model-training" ;
  skos:broader <https://w3id.org/passerelle/ns#AIModelTraining>, <https://w3id.org/passerelle/ns#ClimateResearch> .
`

const jsonld = JSON.stringify(
  {
    '@context': {
      skos: 'http://www.w3.org/2004/02/skos/core#',
      broader: { '@id': 'skos:broader', '@type': '@id' },
      notation: 'skos:notation',
      label: 'skos:prefLabel',
    },
    '@graph': [
      {
        '@id': 'https://dataspace.example/purposes#FloodForecasting',
        '@type': 'skos:Concept',
        label: 'Flood forecasting',
        notation: 'flood-forecasting',
        broader: 'https://w3id.org/passerelle/ns#WeatherForecasting',
      },
    ],
  },
  null,
  2,
)

const yaml = `prefixes: { ex: "https://dataspace.example/crops#" }
concepts:
  - id: ex:Cereal
    notation: cereal
  - id: ex:Wheat
    notation: wheat
    broader: cereal
  - id: ex:DurumWheat
    notation: durum
    broader: [ex:Wheat]
`

describe("stewards' taxonomies", () => {
  it.each([
    ['turtle', turtle, 'https://dataspace.example/purposes#ClimateModelTraining', 'climate-model-training'],
    ['jsonld', jsonld, 'https://dataspace.example/purposes#FloodForecasting', 'flood-forecasting'],
    ['yaml', yaml, 'https://dataspace.example/crops#Wheat', 'wheat'],
  ] as const)('reads SKOS as %s: IRIs, notations and broader concepts', async (format, text, iri, alias) => {
    const read = await readTaxonomyText(text, `v.${format}`, format)
    expect(read.problems).toEqual([])
    const concept = read.concepts.find((c) => c.iri === iri)!
    expect(concept.aliases).toContain(alias)
    expect(concept.broader!.length).toBeGreaterThan(0)
  })

  it.each([
    [
      'turtle',
      '@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n<https://x.example/a> a skos:Concept ;\n  skos:broader <https://x.example/b>\n<https://x.example/b> a skos:Concept .\n',
      5,
    ],
    ['jsonld', '{\n  "@context": {},\n  "@graph": [\n    { "@id": "x", }\n  ]\n}\n', 4],
    ['yaml', 'concepts:\n  - id: https://x.example/a\n    broader: [https://x.example/b\n', 4],
  ] as const)('a broken %s file is reported at file:line:column with what is wrong', async (format, text, line) => {
    const read = await readTaxonomyText(text, `broken.${format}`, format)
    expect(read.concepts).toEqual([])
    expect(read.problems).toHaveLength(1)
    expect(read.problems[0]).toMatchObject({ file: `broken.${format}`, line })
    expect(read.problems[0]!.column).toBeGreaterThan(0)
    expect(read.problems[0]!.message).toMatch(/^not valid (Turtle|JSON|YAML)/)
  })

  it('a broader concept that does not exist is reported where it is written, with the closest known one', async () => {
    const text = 'concepts:\n  - id: https://x.example/a\n    broader: [climat-research]\n'
    const { errors } = await buildTaxonomies([{ operand: 'purpose', file: 'mine.yaml', text }], [])
    expect(errors).toEqual([
      expect.objectContaining({
        file: 'mine.yaml',
        line: 3,
        column: 15,
        message: expect.stringContaining('`climat-research`'),
        suggestion: 'did you mean `climate-research`?',
      }),
    ])
  })

  it('a misspelt broader IRI gets the closest IRI of its namespace', async () => {
    const text = 'concepts:\n  - id: https://x.example/a\n    broader: https://w3id.org/passerelle/ns#AIModelTrainng\n'
    const { errors } = await buildTaxonomies([{ operand: 'purpose', file: 'mine.yaml', text }], [])
    expect(errors[0]!.suggestion).toBe('did you mean `https://w3id.org/passerelle/ns#AIModelTraining`?')
  })

  it('refuses cycles, a short name given to two concepts, and JSON-LD contexts that would be fetched', async () => {
    const cycle =
      'concepts:\n  - { id: "https://x.example/a", broader: "https://x.example/b" }\n  - { id: "https://x.example/b", broader: "https://x.example/a" }\n'
    expect((await buildTaxonomies([{ operand: 'purpose', file: 'c.yaml', text: cycle }], [])).errors[0]!.message).toContain('cycle')
    const clash = 'concepts:\n  - { id: "https://x.example/a", notation: research }\n'
    expect((await buildTaxonomies([{ operand: 'purpose', file: 'd.yaml', text: clash }], [])).errors[0]!.message).toContain(
      'short name `research` is given to both',
    )
    const remote = await readTaxonomyText('{ "@context": "https://evil.example/context.jsonld", "@id": "https://x.example/a" }', 'r.jsonld', 'jsonld')
    expect(remote.problems[0]!.message).toContain('would have to be fetched')
  })

  it('a taxonomy relating too many pairs is refused instead of exhausting memory', () => {
    const chain: ConceptInput[] = Array.from({ length: 3000 }, (_, i) => ({
      iri: `https://x.example/${i}`,
      broader: i > 0 ? [`https://x.example/${i - 1}`] : [],
    }))
    const built = Taxonomy.build(chain, { maxRelations: 100_000 })
    expect(built.taxonomy).toBeUndefined()
    expect(built.problems[0]!.message).toContain('more than 100000 pairs')
  })

  it("registry.yaml adds a steward's vocabularies to purposes and to a taxonomy operand of its own", async () => {
    const dir = folder({
      'registry.yaml':
        'operands:\n  - { name: crop, dataType: taxonomy }\ntaxonomies:\n  - { operand: purpose, file: vocabularies/ai.ttl }\n  - { operand: crop, file: crops.yaml }\n',
      'vocabularies/ai.ttl': turtle,
      'crops.yaml': yaml,
      'no-climate-training.yaml':
        'id: no-climate-training\nconflict: prohibit\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: climate-research }]\nprohibitions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: climate-model-training }]\n',
      'wheat-only.yaml':
        'id: wheat-only\npermissions:\n  - action: use\n    constraints: [{ leftOperand: crop, operator: isA, rightOperand: "https://dataspace.example/crops#Wheat" }]\n',
    })
    const result = await loadPolicies(dir)
    expect(result.errors).toEqual([])
    expect([...result.policies.keys()].sort()).toEqual(['no-climate-training', 'wheat-only'])
    const noTraining = result.policies.get('no-climate-training')!
    expect(evaluate(noTraining, context({ purpose: 'climate-research' })).allowed).toBe(true)
    expect(evaluate(noTraining, context({ purpose: 'https://dataspace.example/purposes#ClimateModelTraining' })).allowed).toBe(false)
    const wheat = result.policies.get('wheat-only')!
    expect(evaluate(wheat, context({ attributes: { crop: 'durum' } })).allowed).toBe(true)
    expect(evaluate(wheat, context({ attributes: { crop: 'cereal' } })).allowed).toBe(false)
  })

  it('a broken vocabulary adds nothing: policies naming its concepts are refused, the others still load', async () => {
    const dir = folder({
      'registry.yaml': 'taxonomies:\n  - { operand: purpose, file: ai.ttl }\n',
      'ai.ttl': turtle.replace('skos:broader', 'skos:broader <https://w3id.org/passerelle/ns#NoSuchThing>,'),
      'uses-it.yaml':
        'id: uses-it\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: climate-model-training }]\n',
      'research.yaml': 'id: research\npermissions:\n  - action: use\n    constraints: [{ leftOperand: purpose, operator: isA, rightOperand: research }]\n',
    })
    const result = await loadPolicies(dir)
    const vocabularyError = result.errors.find((e: LintError) => e.file.endsWith('ai.ttl'))!
    expect(vocabularyError).toMatchObject({ line: 7, field: '(vocabulary)' })
    expect(vocabularyError.message).toContain('NoSuchThing')
    expect(result.errors.some((e: LintError) => e.file.endsWith('uses-it.yaml') && e.message.includes('`climate-model-training` is not a known purpose'))).toBe(
      true,
    )
    expect(result.policies.has('uses-it')).toBe(false)
    expect(result.registry.get('purpose')!.taxonomy!.indexOf('climate-model-training')).toBeUndefined()
    expect(evaluate(result.policies.get('research')!, context({ purpose: 'climate-research' })).allowed).toBe(true)
  })

  it('refuses a vocabulary outside the policy folder, and a taxonomy for an operand that takes none', async () => {
    const dir = folder({
      'registry.yaml': 'taxonomies:\n  - { operand: purpose, file: ../elsewhere.ttl }\n  - { operand: count, file: a.yaml }\n',
      'a.yaml': yaml,
    })
    const result = await loadPolicies(dir)
    expect(result.errors.map((e: LintError) => e.message)).toEqual(
      expect.arrayContaining(['`../elsewhere.ttl` is outside the policy folder', 'the operand `count` takes no taxonomy']),
    )
  })

  it('a configured taxonomy operand without concepts refuses every value', () => {
    const registry = createRegistry([{ name: 'crop', dataType: 'taxonomy' }])
    expect(registry.get('crop')!.check!('wheat')).toBe('`wheat` is not a known crop')
  })
})

describe('speed', () => {
  it('isA in a 10,000-concept taxonomy takes the same time near the root and deep down (closure, not a walk)', () => {
    // A tree of depth 12 with 10,000 concepts: a walk up would cost 12 steps at the leaves, the closure one.
    const concepts: ConceptInput[] = Array.from({ length: 10_000 }, (_, i) => ({
      iri: `https://x.example/${i}`,
      broader: i > 0 ? [`https://x.example/${Math.floor((i - 1) / 2)}`] : [],
    }))
    const taxonomy = Taxonomy.build(concepts).taxonomy!
    expect(taxonomy.within('https://x.example/9999', 'https://x.example/0')).toBe(true)
    expect(taxonomy.within('https://x.example/0', 'https://x.example/9999')).toBe(false)
  })
})

describe('extending the shipped places', () => {
  it("a steward's region within Quebec is within Canada, and the shipped places stay as they were", async () => {
    const text = 'concepts:\n  - { id: "https://dataspace.example/regions#Estrie", notation: QC-ESTRIE, broader: ca-qc }\n'
    const { taxonomies, errors } = await buildTaxonomies([{ operand: 'spatial', file: 'regions.yaml', text }], [])
    expect(errors).toEqual([])
    const places = taxonomies.spatial!
    expect(places.within(places.canonical('qc-estrie')!, 'CA')).toBe(true)
    expect(places.within(places.canonical('https://dataspace.example/regions#Estrie')!, 'CA-PROVINCES')).toBe(true)
    expect(placeTaxonomy().indexOf('QC-ESTRIE')).toBeUndefined()
    expect(places.size).toBe(placeTaxonomy().size + 1)
  })
})
