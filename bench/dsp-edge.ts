/**
 * Reading DSP messages at the edge: the official example messages, each brought to its canonical
 * form and validated by its endpoint's schema, as every inbound message is.
 *
 * - fast path: the canonical compact form (what Passerelle and most peers send): a scan, no JSON-LD
 *   processing;
 * - slow path: the same messages with a string `@context` plus an added prefix context, prefixed
 *   terms, and in expanded form, each expanded and compacted with the `jsonld` library.
 *
 * Prints the median time per message of each path (after a warm-up), over `rounds` passes, and as
 * a baseline the schema alone on the canonical form (how messages were read before).
 *
 *   node --import tsx bench/dsp-edge.ts [--rounds 200]
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { fromRoot } from '../connector/paths.ts'
import { dspContextUrl } from '../connector/dsp/context.ts'
import { dspEndpoints } from '../connector/dsp/endpoints.ts'
import { canonicalMessage } from '../connector/dsp/json-ld.ts'
import { contextDocument } from '../policies/jsonld.ts'
import { median, percentile, printTable } from './stats.ts'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } })
const rounds = Number(values.rounds)

const examples: Array<[string, keyof typeof dspEndpoints]> = [
  ['catalog/example/catalog-request-message.json', 'catalogRequest'],
  ['negotiation/example/contract-request-message_initial.json', 'contractRequest'],
  ['negotiation/example/contract-offer-message.json', 'counterOffer'],
  ['negotiation/example/contract-agreement-message.json', 'agreement'],
  ['negotiation/example/contract-agreement-verification-message.json', 'verification'],
  ['negotiation/example/contract-negotiation-event-message.json', 'negotiationEvent'],
  ['negotiation/example/contract-negotiation-termination-message.json', 'negotiationTermination'],
  ['transfer/example/transfer-request-message.json', 'transferRequest'],
  ['transfer/example/transfer-start-message.json', 'transferStart'],
  ['transfer/example/transfer-completion-message.json', 'transferCompletion'],
]
const read = (path: string) => JSON.parse(readFileSync(fromRoot(`spec/dsp-2025-1/${path}`), 'utf8')) as Record<string, unknown>

/** Keys and types of the DSP and ODRL terms written with their prefixes (a few, enough to leave the fast path). */
const prefixedKeys: Record<string, string> = {
  consumerPid: 'dspace:consumerPid',
  providerPid: 'dspace:providerPid',
  callbackAddress: 'dspace:callbackAddress',
  permission: 'odrl:permission',
  action: 'odrl:action',
  target: 'odrl:target',
}
const prefixed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(prefixed)
  if (!value || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k === '@type' ? k : (prefixedKeys[k] ?? k),
      k === '@type' && typeof v === 'string' && v.endsWith('Message') ? `dspace:${v}` : prefixed(v),
    ]),
  )
}

// Expanded inputs are made once, before timing, with a fresh jsonld context cache each.
const require = createRequire(import.meta.url)
const jsonld = require('jsonld') as { expand(input: unknown, options: object): Promise<unknown> }
const ContextResolver = require('jsonld/lib/ContextResolver.js') as new (o: { sharedCache: Map<string, unknown> }) => unknown
const expanded = new Map<unknown, unknown>()
for (const [path] of examples) {
  expanded.set(
    path,
    await jsonld.expand(read(path), {
      documentLoader: async (url: string) => ({ contextUrl: null, documentUrl: url, document: structuredClone(contextDocument(url)) }),
      contextResolver: new ContextResolver({ sharedCache: new Map() }),
    }),
  )
}

const spellings: Record<string, (m: Record<string, unknown>, path: string) => unknown> = {
  canonical: (m: Record<string, unknown>) => m,
  expanded: (_m, path) => expanded.get(path),
  'string + added context': (m: Record<string, unknown>) => ({ ...m, '@context': [dspContextUrl, { edc: 'https://w3id.org/edc/v0.0.1/ns/' }] }),
  prefixed: (m: Record<string, unknown>) => prefixed(m),
}

async function readMessage(raw: unknown, endpoint: keyof typeof dspEndpoints, schemaOnly = false) {
  const parsed = dspEndpoints[endpoint].message!.safeParse(schemaOnly ? raw : await canonicalMessage(raw))
  if (!parsed.success) throw new Error(`${endpoint}: ${JSON.stringify(parsed.error.issues)}`)
}

async function timePerMessage(spell: (m: Record<string, unknown>, path: string) => unknown, schemaOnly = false): Promise<number[]> {
  const inputs = examples.map(([path, endpoint]) => [spell(read(path), path), endpoint] as const)
  for (let i = 0; i < 5; i++) for (const [raw, endpoint] of inputs) await readMessage(structuredClone(raw), endpoint, schemaOnly)
  const samples: number[] = []
  for (let round = 0; round < rounds; round++) {
    for (const [raw, endpoint] of inputs) {
      const copy = structuredClone(raw)
      const start = performance.now()
      await readMessage(copy, endpoint, schemaOnly)
      samples.push(performance.now() - start)
    }
  }
  return samples
}

const rows = [['spelling', 'path', 'median ms/message', 'p95 ms/message']]
// Baseline: the schema alone, as messages were read before there was a canonical form.
const baseline = await timePerMessage(spellings.canonical!, true)
rows.push(['canonical', 'schema only (baseline)', median(baseline).toFixed(4), percentile(baseline, 95).toFixed(4)])
for (const [name, spell] of Object.entries(spellings)) {
  const samples = await timePerMessage(spell)
  rows.push([name, name === 'canonical' ? 'fast' : 'slow (jsonld)', median(samples).toFixed(4), percentile(samples, 95).toFixed(4)])
}
printTable(`DSP edge: ${examples.length} official example messages × ${rounds} rounds, canonical form + schema`, rows)
