import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import { dspPath } from '../config/config.ts'
import { PasserelleError } from '../errors.ts'
import { createErrorRenderers } from '../http/error-response.ts'
import { registerDspErrors } from './errors.ts'

/** The one mapping of errors to DSP error messages, as the app's error handler answers them. */
function app(thrown: () => unknown) {
  const errors = createErrorRenderers()
  registerDspErrors(errors, 'CatalogError')
  registerDspErrors(errors, 'ContractNegotiationError')
  registerDspErrors(errors, 'TransferError')
  const root = new Hono()
  root.all('*', () => {
    throw thrown()
  })
  root.onError((error, c) => errors.render(error, c))
  return root
}

const cases = [
  ['/catalog/request', 'CatalogError', 'catalog/catalog-error-schema.json'],
  ['/negotiations/urn:uuid:p/events', 'ContractNegotiationError', 'negotiation/contract-negotiation-error-schema.json'],
  ['/transfers/urn:uuid:p/start', 'TransferError', 'transfer/transfer-error-schema.json'],
] as const

describe('DSP error messages', () => {
  for (const [path, type, schema] of cases) {
    it(`error: an unexpected error under ${path} is a ${type} with 500 and no detail`, async () => {
      const response = await app(() => new Error('secret: /var/lib/db password=hunter2')).request(`${dspPath}${path}`, { method: 'POST' })
      expect(response.status).toBe(500)
      const body = (await response.json()) as Record<string, unknown>
      expectDspValid(schema, body)
      expect(body['@type']).toBe(type)
      expect(JSON.stringify(body)).not.toMatch(/secret|hunter2/)
    })

    it(`error: an id already in use under ${path} (a unique index refusing a row) is a ${type} with 409`, async () => {
      const unique = Object.assign(new Error('Failed query'), {
        cause: Object.assign(new Error('duplicate key value violates unique constraint "agreements_pkey"'), { code: '23505' }),
      })
      const response = await app(() => unique).request(`${dspPath}${path}`, { method: 'POST' })
      expect(response.status).toBe(409)
      const body = (await response.json()) as Record<string, unknown>
      expectDspValid(schema, body)
      expect(JSON.stringify(body)).not.toMatch(/agreements_pkey/)
    })
  }

  it('error: a known error keeps its status and carries the pids it names', async () => {
    const response = await app(() => new PasserelleError('invalid_state', 'not now', { providerPid: 'urn:uuid:p', consumerPid: 'urn:uuid:c' })).request(
      `${dspPath}/transfers/urn:uuid:p/start`,
      { method: 'POST' },
    )
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ '@type': 'TransferError', providerPid: 'urn:uuid:p', consumerPid: 'urn:uuid:c', reason: ['not now'] })
  })
})
