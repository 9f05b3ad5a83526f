import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import type { Ctx } from '../context.ts'
import type { Identity } from '../identity/identity.ts'
import type { Store } from '../store/store.ts'
import { dspUrlFromDidDocument, normaliseDspUrl } from './peer-address.ts'
import { addPeer, refreshRegistry, syncConfiguredPeers, tokenIssuerOf } from './peers.ts'
import { federationRepository } from './repository.ts'

describe('peer addresses from DID documents', () => {
  it('takes a DataService endpoint as the DSP base, and a CatalogService endpoint minus /catalog', () => {
    expect(dspUrlFromDidDocument({ service: [{ id: '#dsp', type: 'DataService', serviceEndpoint: 'https://a.example/dsp/2025-1/' }] })).toBe('https://a.example/dsp/2025-1')
    expect(dspUrlFromDidDocument({ service: [{ id: '#c', type: ['CatalogService'], serviceEndpoint: 'https://a.example/dsp/catalog' }] })).toBe('https://a.example/dsp')
  })
  it('finds none in a document without a usable DSP service', () => {
    expect(dspUrlFromDidDocument({})).toBeNull()
    expect(dspUrlFromDidDocument({ service: [{ id: '#x', type: 'CredentialService', serviceEndpoint: 'https://a.example/cs' }] })).toBeNull()
    expect(dspUrlFromDidDocument({ service: [{ id: '#x', type: 'DataService', serviceEndpoint: 'javascript:alert(1)' }] })).toBeNull()
  })
  it('stores URLs without trailing slash, query or fragment, and refuses credentials in them', () => {
    expect(normaliseDspUrl('https://a.example/dsp/?x=1#y')).toBe('https://a.example/dsp')
    expect(() => normaliseDspUrl('https://u:p@a.example/dsp')).toThrow(/credentials/)
  })
})

describe('peers from configuration, DIDs and a registry', () => {
  let store: Store
  let ctx: Ctx
  let server: Server
  let registryUrl: string
  let registryBody: unknown = {}
  const resolver = {
    async resolve(did: string) {
      if (did === 'did:web:ice.example') return { id: did, service: [{ id: '#dsp', type: 'DataService', serviceEndpoint: 'https://ice.example/dsp/2025-1' }] }
      throw new Error('not found')
    },
  }

  beforeAll(async () => {
    store = await createTestStore('sqlite')
    ctx = testContext(store, { identity: { resolver, tokenIssuer: { authorizationFor: async () => 'Bearer from-identity' } } as unknown as Identity })
    const app = new Hono().get('/participants.json', (c) => c.json(registryBody as object))
    server = createServer(getRequestListener(app.fetch))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    registryUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/participants.json`
  })
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    await ctx?.peers.close()
    await store?.close()
  })

  it('adds a peer given by DID at the DSP address its document names', async () => {
    const { peer, created } = await addPeer({ ctx, input: { did: 'did:web:ice.example', source: 'api' } })
    expect(created).toBe(true)
    expect(peer).toMatchObject({ dspUrl: 'https://ice.example/dsp/2025-1', did: 'did:web:ice.example', source: 'api' })
    await expect(addPeer({ ctx, input: { did: 'did:web:unknown.example', source: 'api' } })).rejects.toThrow(/cannot resolve did:web:unknown.example/)
  })

  it('adds configured peers once, and skips (with a log) those it cannot add', async () => {
    const input = [{ dspUrl: 'https://meteo.example/dsp/2025-1', name: 'Météo' }, { did: 'did:web:unknown.example' }]
    await syncConfiguredPeers({ ctx, input })
    await syncConfiguredPeers({ ctx, input })
    const peers = await federationRepository(store).listPeers()
    expect(peers.filter((p) => p.source === 'config').map((p) => p.dspUrl)).toEqual(['https://meteo.example/dsp/2025-1'])
  })

  it('adds the participants a registry lists, except ourselves and those already known', async () => {
    registryBody = {
      participants: [
        { participantId: 'did:web:river.example', name: 'River', dspUrl: 'https://river.example/dsp/2025-1' },
        { participantId: 'did:web:ice.example' },
        { participantId: ctx.config.participant.id, dspUrl: 'https://self.example/dsp' },
        { participantId: 'did:web:unknown.example' },
      ],
    }
    expect(await refreshRegistry({ ctx, input: { registryUrl } })).toEqual({ listed: 4, added: 1 })
    const peers = await federationRepository(store).listPeers()
    expect(peers.find((p) => p.dspUrl === 'https://river.example/dsp/2025-1')).toMatchObject({ source: 'registry', name: 'River' })
    expect(peers.find((p) => p.dspUrl === 'https://self.example/dsp')).toBeUndefined()
  })

  it('refuses a registry answer that is not a participant list, adding nothing', async () => {
    const before = (await federationRepository(store).listPeers()).length
    for (const body of [{ participants: 'all' }, { participants: [{ name: 'no address' }] }, []]) {
      registryBody = body
      await expect(refreshRegistry({ ctx, input: { registryUrl } })).rejects.toThrow(/not a participant list/)
    }
    expect((await federationRepository(store).listPeers()).length).toBe(before)
  })

  it('speaks to peers as the identity on the context, else with the configured static token', async () => {
    expect(await tokenIssuerOf(ctx)!.authorizationFor({ dspUrl: 'https://x' })).toBe('Bearer from-identity')
    const config = testConfig({ identity: { mode: 'static', staticTokens: { 'our-token': 'did:web:127.0.0.1%3A8181' } } })
    expect(await tokenIssuerOf({ ...ctx, identity: undefined, config })!.authorizationFor({ dspUrl: 'https://x' })).toBe('Bearer our-token')
    expect(tokenIssuerOf({ ...ctx, identity: undefined })).toBeUndefined()
  })
})
