import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { dspSchemaErrors, dspSchemaNames } from './dsp-schemas.ts'

const example = (path: string) => JSON.parse(readFileSync(fromRoot('spec/dsp-2025-1', path), 'utf8'))

describe('published DSP schemas', () => {
  it('all load, including the three with broken references', () => {
    expect(dspSchemaNames().length).toBeGreaterThanOrEqual(25)
    expect(dspSchemaErrors('transfer/transfer-error-schema.json', example('transfer/example/transfer-error.json'))).toEqual([])
  })

  it('accept the published examples', () => {
    expect(dspSchemaErrors('catalog/catalog-schema.json', example('catalog/example/catalog.json'))).toEqual([])
    expect(dspSchemaErrors('negotiation/contract-request-message-schema.json', example('negotiation/example/contract-request-message_initial.json'))).toEqual(
      [],
    )
  })

  it('reject a prefixed type', () => {
    const message = { ...example('negotiation/example/contract-request-message_initial.json'), '@type': 'dspace:ContractRequestMessage' }
    expect(dspSchemaErrors('negotiation/contract-request-message-schema.json', message)).not.toEqual([])
  })
})
