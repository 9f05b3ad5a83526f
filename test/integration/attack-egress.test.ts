import { describe, expect, it } from 'vitest'
import { dspSchemaErrors } from '../support/dsp-schemas.ts'
import { until } from '../support/processes.ts'

/**
 * SSRF through callbacks and push destinations. A consumer with a real agreement and a real key
 * (its DSP messages carry ID tokens signed with the consumer process's own key) names internal
 * addresses as its callback or as the place the provider should push the dataset to, with an
 * Authorization header of its choice. Listeners that record every request prove that nothing
 * reaches them; the provider's answers and stored processes prove that nothing changed.
 */
import {
  arctic,
  dspContext,
  consumer,
  offer,
  internal,
  redirector,
  dataPlane,
  asConsumer,
  pushRequest,
  providerTransfers,
  providerNegotiations,
  providerLog,
  useEgressAttackParticipants,
} from '../support/egress-attack.ts'

useEgressAttackParticipants()

describe('push destinations named by a consumer with a real agreement', () => {
  it.each([
    ['another port of 127.0.0.1', () => `http://127.0.0.1:${internal.port}/admin`],
    ['a host name that resolves to loopback', () => `http://localhost:${internal.port}/admin`],
    ['an IPv4-mapped IPv6 loopback address', () => `http://[::ffff:127.0.0.1]:${internal.port}/admin`],
    ['a private address', () => 'http://10.0.0.1:9200/'],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
  ])('%s is refused with a 400 TransferError, nothing is stored and nothing is sent there', async (_name, endpoint) => {
    const before = await providerTransfers()
    const answer = await asConsumer('/transfers/request', pushRequest(endpoint()))
    expect(answer.status).toBe(400)
    expect(answer.body['@type']).toBe('TransferError')
    expect(dspSchemaErrors('transfer/transfer-error-schema.json', answer.body)).toEqual([])
    expect(JSON.stringify(answer.body.reason)).toContain('the push destination is not allowed')
    expect(JSON.stringify(answer.body)).not.toMatch(/loopback|private|link-local|ECONN|egress/)
    expect(await providerTransfers()).toHaveLength(before.length)
    expect(internal.hits).toEqual([])
    expect(providerLog()).toMatch(/egress: push destination refused/)
  })

  it('a redirect from an allowed destination to an internal one is not followed: the transfer ends TERMINATED with a readable reason', async () => {
    const answer = await asConsumer('/transfers/request', pushRequest(`http://127.0.0.1:${redirector.port}/incoming`))
    expect(answer.status).toBe(201)
    const ended = await until(async () => {
      const transfer = (await providerTransfers()).find((t) => t.consumerPid === answer.body.consumerPid)
      return transfer?.state === 'TERMINATED' ? transfer : undefined
    })
    expect(ended.reason).toMatch(/^push failed: the consumer's endpoint answered 307/)
    expect(redirector.hits.some((hit) => hit.startsWith('PUT /incoming'))).toBe(true)
    expect(internal.hits).toEqual([])
  })

  it('an allowed destination on another port than the callback (a data plane of its own) receives the data', async () => {
    const answer = await asConsumer('/transfers/request', pushRequest(`http://127.0.0.1:${dataPlane.port}/incoming`))
    expect(answer.status).toBe(201)
    const ended = await until(async () => {
      const transfer = (await providerTransfers()).find((t) => t.consumerPid === answer.body.consumerPid)
      return transfer?.state === 'COMPLETED' || transfer?.state === 'TERMINATED' ? transfer : undefined
    })
    expect(ended.state).toBe('COMPLETED')
    expect(dataPlane.hits).toEqual(['PUT /incoming Bearer chosen-by-the-consumer'])
  })
})

describe('callback addresses named by a consumer', () => {
  it('a ContractRequestMessage whose callback is an internal port is refused, stores nothing and posts nothing there', async () => {
    const before = await providerNegotiations()
    const answer = await asConsumer('/negotiations/request', {
      '@context': dspContext,
      '@type': 'ContractRequestMessage',
      consumerPid: `urn:uuid:${crypto.randomUUID()}`,
      offer: { ...offer, target: arctic },
      callbackAddress: `http://127.0.0.1:${internal.port}/dsp/2025-1`,
    })
    expect(answer.status).toBe(400)
    expect(answer.body['@type']).toBe('ContractNegotiationError')
    expect(JSON.stringify(answer.body.reason)).toContain('the callback address is not allowed')
    expect(await providerNegotiations()).toHaveLength(before.length)
    // Time for any retried dispatch to have gone out, had one been queued.
    await new Promise((r) => setTimeout(r, 500))
    expect(internal.hits).toEqual([])
  })

  it("a callback the egress policy allows but that is not the consumer's DSP address (its DID document names it) is refused", async () => {
    const before = await providerNegotiations()
    const hitsBefore = redirector.hits.length
    const answer = await asConsumer('/negotiations/request', {
      '@context': dspContext,
      '@type': 'ContractRequestMessage',
      consumerPid: `urn:uuid:${crypto.randomUUID()}`,
      offer: { ...offer, target: arctic },
      callbackAddress: `http://127.0.0.1:${redirector.port}/dsp/2025-1`,
    })
    expect(answer.status).toBe(400)
    expect(JSON.stringify(answer.body.reason)).toContain('the callback address is not allowed')
    expect(await providerNegotiations()).toHaveLength(before.length)
    expect(providerLog()).toMatch(new RegExp(`http://127\\.0\\.0\\.1:${redirector.port} is not the DSP address of ${consumer.did}`))
    await new Promise((r) => setTimeout(r, 500))
    expect(redirector.hits).toHaveLength(hitsBefore)
  })

  it('a TransferRequestMessage whose callback is an internal port is refused before anything is stored', async () => {
    const before = await providerTransfers()
    const answer = await asConsumer('/transfers/request', {
      ...pushRequest(`${consumer.url}/data/incoming/x`),
      format: 'HttpData-PULL',
      dataAddress: undefined,
      callbackAddress: `http://127.0.0.1:${internal.port}/dsp/2025-1`,
    })
    expect(answer.status).toBe(400)
    expect(JSON.stringify(answer.body.reason)).toContain('the callback address is not allowed')
    expect(await providerTransfers()).toHaveLength(before.length)
    await new Promise((r) => setTimeout(r, 500))
    expect(internal.hits).toEqual([])
  })

  it("the consumer's own DSP address, as its DID document names it, is accepted as callback", async () => {
    const answer = await asConsumer('/transfers/request', {
      ...pushRequest(`${consumer.url}/data/incoming/x`),
      format: 'HttpData-PULL',
      dataAddress: undefined,
    })
    expect(answer.status).toBe(201)
  })
})
