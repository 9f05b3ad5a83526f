import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestConnector, type TestConnector } from '../../test/support/negotiation.ts'

/**
 * A consumer reads peers' offers with its participant's operand registry (its stewards'
 * registry.yaml included), not only the built-in operands: a data space's own operand is readable.
 */
const registryYaml = [
  'operands:',
  '  - name: project',
  '    label: research project',
  '    dataType: string',
  '    values: [arctic-ice, st-lawrence-flow]',
  '    scopes: [negotiation, transfer]',
  '',
].join('\n')
const projectOffer = {
  '@id': 'urn:uuid:offer-project',
  '@type': 'Offer',
  permission: [
    { action: 'use', constraint: [{ leftOperand: 'https://w3id.org/passerelle/policy/project', operator: 'isAnyOf', rightOperand: ['arctic-ice'] }] },
  ],
}

let running: TestConnector[] = []
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()))
  running = []
})

async function consumerWith(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'consumer-registry-'))
  mkdirSync(join(root, 'policies'))
  mkdirSync(join(root, 'datasets'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, 'policies', name), text)
  const config = [
    'participant:',
    '  id: did:web:consumer.test',
    '  name: consumer',
    'identity:',
    '  mode: static',
    '  staticTokens:',
    '    token-consumer: did:web:consumer.test',
    'catalog:',
    '  datasetsDir: datasets',
    '  policiesDir: policies',
    '',
  ].join('\n')
  writeFileSync(join(root, 'passerelle.yaml'), config)
  const consumer = await startTestConnector({ dialect: 'sqlite', configFile: join(root, 'passerelle.yaml'), maxAttempts: 1 })
  running.push(consumer)
  return consumer
}

const ask = (c: TestConnector) =>
  c.management('POST', '/negotiations', {
    peerUrl: 'http://127.0.0.1:9/dsp/2025-1',
    peerId: 'did:web:provider.test',
    datasetId: 'dataset-1',
    offer: projectOffer,
  })

describe('the consumer reads offers with its own operand registry', () => {
  it('accepts to ask for an offer using an operand of its registry.yaml', async () => {
    const consumer = await consumerWith({ 'registry.yaml': registryYaml })
    const start = await ask(consumer)
    expect(start.status, JSON.stringify(start.body)).toBe(201)
  })

  it('refuses the same offer, naming the operand, when its registry does not know it', async () => {
    const consumer = await consumerWith({})
    const start = await ask(consumer)
    expect(start.status).toBe(400)
    expect(JSON.stringify(start.body)).toContain('project')
  })
})
