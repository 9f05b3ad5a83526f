import { describe, expect, it } from 'vitest'
import { until } from '../support/processes.ts'

/**
 * Variants of SSRF through callbacks and push destinations: other spellings of internal addresses
 * (IPv6 loopback, 0.0.0.0, shortened, decimal, hex and octal IPv4, IPv4-mapped and NAT64 IPv6,
 * upper-case scheme, a trailing dot, percent-encoded host), credentials and backslashes in the URL,
 * and names under .localhost. A consumer with a real agreement and a real key
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
  dataPlane,
  asConsumer,
  pushRequest,
  providerTransfers,
  providerNegotiations,
  useEgressAttackParticipants,
} from '../support/egress-attack.ts'

useEgressAttackParticipants()

const internalSpellings: Array<[string, () => string]> = [
  ['IPv6 loopback', () => `http://[::1]:${internal.port}/admin`],
  ['0.0.0.0', () => `http://0.0.0.0:${internal.port}/admin`],
  ['127.1', () => `http://127.1:${internal.port}/admin`],
  ['decimal IPv4', () => `http://2130706433:${internal.port}/admin`],
  ['hexadecimal IPv4', () => `http://0x7f000001:${internal.port}/admin`],
  ['octal IPv4', () => `http://0177.0.0.1:${internal.port}/admin`],
  ['IPv4-mapped IPv6 in hex groups', () => `http://[::ffff:7f00:1]:${internal.port}/admin`],
  ['NAT64 IPv6 of loopback', () => `http://[64:ff9b::7f00:1]:${internal.port}/admin`],
  ['upper-case scheme', () => `HTTP://127.0.0.1:${internal.port}/admin`],
  ['a trailing dot', () => `http://127.0.0.1.:${internal.port}/admin`],
  ['a percent-encoded host', () => `http://%31%32%37.0.0.1:${internal.port}/admin`],
  ['an allowed host as user name', () => `http://127.0.0.1:${dataPlane.port}@127.0.0.1:${internal.port}/admin`],
  ['a backslash before the allowed host', () => `http://127.0.0.1:${internal.port}\\@127.0.0.1:${dataPlane.port}/admin`],
  ['the allowed port on the IPv6 loopback', () => `http://[::1]:${dataPlane.port}/admin`],
  ['the link-local metadata address as IPv4-mapped IPv6', () => 'http://[::ffff:169.254.169.254]/latest/meta-data/'],
]

describe('push destinations in other spellings of internal addresses', () => {
  it.each(internalSpellings)('%s: refused with a 400 TransferError; nothing stored, nothing sent there', async (_name, endpoint) => {
    const before = await providerTransfers()
    const hitsBefore = dataPlane.hits.length
    const answer = await asConsumer('/transfers/request', pushRequest(endpoint()))
    expect(answer.status, JSON.stringify(answer.body)).toBe(400)
    expect(answer.body['@type']).toBe('TransferError')
    expect(JSON.stringify(answer.body)).not.toMatch(/loopback|private|link-local|ECONN|egress/)
    expect(await providerTransfers()).toHaveLength(before.length)
    await new Promise((r) => setTimeout(r, 200))
    expect(internal.hits).toEqual([])
    expect(dataPlane.hits).toHaveLength(hitsBefore)
  })
})

/**
 * Names that may resolve to loopback (or may not resolve at all where the resolver has no answer for
 * them). Resolved at request time, a loopback answer is refused as above; a name that does not resolve
 * yet is judged again on the address it resolves to when the push connects, so it never reaches the
 * internal listener either.
 */
const loopbackNames: Array<[string, () => string]> = [
  ['localhost with a trailing dot', () => `http://localhost.:${internal.port}/admin`],
  ['a name under .localhost', () => `http://internal.localhost:${internal.port}/admin`],
]

describe('push destinations named by host names that may mean loopback', () => {
  it.each(loopbackNames)(
    '%s: refused at the request, or the push never connects and the transfer ends TERMINATED; nothing sent there',
    async (_name, endpoint) => {
      const answer = await asConsumer('/transfers/request', pushRequest(endpoint()))
      if (answer.status !== 201) {
        expect(answer.status).toBe(400)
      } else {
        const ended = await until(async () => {
          const transfer = (await providerTransfers()).find((t) => t.consumerPid === answer.body.consumerPid)
          return transfer?.state === 'TERMINATED' || transfer?.state === 'COMPLETED' ? transfer : undefined
        })
        expect(ended.state).toBe('TERMINATED')
        expect(ended.reason).not.toMatch(/loopback|ECONN|ENOTFOUND|127\.0\.0\.1/)
      }
      expect(internal.hits).toEqual([])
    },
  )
})

describe('callback addresses in other spellings of internal addresses', () => {
  it.each([...internalSpellings, ...loopbackNames])(
    '%s: a ContractRequestMessage with it as callback is refused, stores nothing, posts nothing there',
    async (_name, callback) => {
      const before = await providerNegotiations()
      const answer = await asConsumer('/negotiations/request', {
        '@context': dspContext,
        '@type': 'ContractRequestMessage',
        consumerPid: `urn:uuid:${crypto.randomUUID()}`,
        offer: { ...offer, target: arctic },
        callbackAddress: callback().replace('/admin', '/dsp/2025-1'),
      })
      expect(answer.status, JSON.stringify(answer.body)).toBe(400)
      expect(answer.body['@type']).toBe('ContractNegotiationError')
      expect(await providerNegotiations()).toHaveLength(before.length)
      await new Promise((r) => setTimeout(r, 200))
      expect(internal.hits).toEqual([])
    },
  )

  it("the consumer's own address spelled 127.1 names the same host and port: accepted, and nothing reaches the internal listener", async () => {
    const answer = await asConsumer('/negotiations/request', {
      '@context': dspContext,
      '@type': 'ContractRequestMessage',
      consumerPid: `urn:uuid:${crypto.randomUUID()}`,
      offer: { ...offer, target: arctic },
      callbackAddress: `http://127.1:${consumer.port}/dsp/2025-1`,
    })
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    expect(internal.hits).toEqual([])
  })
})
