import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureCatalog, fixtureDataset } from '../../catalog/federation/fixtures.ts'
import { readCatalogPage } from '../../catalog/federation/read-catalog-page.ts'
import { testConfig, testContext } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { loadConfig } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import type { Identity } from '../identity/identity.ts'
import { fromRoot } from '../paths.ts'
import type { Store } from '../store/store.ts'
import { dspUrlFromDidDocument, normaliseDspUrl, RegistryDocument } from './peer-address.ts'
import { addPeer, refreshRegistry, syncConfiguredPeers, tokenIssuerOf } from './peers.ts'
import { federationRepository } from './repository.ts'

describe('peer addresses from DID documents', () => {
  it('takes a DataService endpoint as the DSP base, and a CatalogService endpoint minus /catalog', () => {
    expect(dspUrlFromDidDocument({ service: [{ id: '#dsp', type: 'DataService', serviceEndpoint: 'https://a.example/dsp/2025-1/' }] })).toBe(
      'https://a.example/dsp/2025-1',
    )
    expect(dspUrlFromDidDocument({ service: [{ id: '#c', type: ['CatalogService'], serviceEndpoint: 'https://a.example/dsp/catalog' }] })).toBe(
      'https://a.example/dsp',
    )
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

describe('the example registry', () => {
  it('parses as a registry and lists each participant of the example as its configuration names it', () => {
    const registry = RegistryDocument.parse(JSON.parse(readFileSync(fromRoot('examples/eu-canada-climate/authority/registry.json'), 'utf8')))
    const participants = ['institute', 'agency', 'company'].map((name) =>
      loadConfig(fromRoot('examples/eu-canada-climate', name, 'passerelle.yaml'), { env: {} }),
    )
    expect(registry.participants).toEqual(participants.map((c) => ({ participantId: c.participant.id, name: c.participant.name, dspUrl: c.dspUrl })))
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
    expect(await refreshRegistry({ ctx, input: { registryUrl } })).toEqual({ listed: 4, added: 1, removed: 0 })
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

  it('removes the peers the registry no longer lists, with their datasets, never configured or API ones', async () => {
    const repo = federationRepository(store)
    registryBody = {
      participants: [
        { participantId: 'did:web:river.example', dspUrl: 'https://river.example/dsp/2025-1' },
        { dspUrl: 'https://glacier.example/dsp' },
        { dspUrl: 'https://delta.example/dsp' },
      ],
    }
    expect(await refreshRegistry({ ctx, input: { registryUrl } })).toEqual({ listed: 3, added: 2, removed: 0 })
    const river = (await repo.getPeer('https://river.example/dsp/2025-1'))!
    const entries = readCatalogPage(fixtureCatalog('did:web:river.example', [fixtureDataset(0, { prefix: 'river' })], 'river')).entries
    await repo.recordSuccess({
      peerId: river.id,
      entries,
      mode: 'full',
      participantId: 'did:web:river.example',
      rejected: 0,
      incremental: 'unknown',
      now: 1,
      durationMs: 1,
      nextCrawlAt: 2,
    })
    expect((await repo.search({ peer: river.id })).total).toBe(1)

    // River is still listed by its DID alone, glacier by its URL written another way; delta is gone.
    registryBody = { participants: [{ participantId: 'did:web:river.example' }, { dspUrl: 'https://glacier.example/dsp/' }] }
    expect(await refreshRegistry({ ctx, input: { registryUrl } })).toMatchObject({ removed: 1 })
    expect(await repo.getPeer('https://delta.example/dsp')).toBeUndefined()
    expect((await repo.search({ peer: river.id })).total).toBe(1)

    // The configuration names glacier too: it is the configuration's from then on.
    await syncConfiguredPeers({ ctx, input: [{ dspUrl: 'https://glacier.example/dsp' }] })
    registryBody = { participants: [] }
    expect(await refreshRegistry({ ctx, input: { registryUrl } })).toMatchObject({ listed: 0, removed: 1 })
    expect(await repo.getPeer(river.id)).toBeUndefined()
    expect((await repo.search({ q: 'precipitation' })).total).toBe(0)
    const left = await repo.listPeers()
    expect(left.map((p) => `${p.source} ${p.dspUrl}`).sort()).toEqual([
      'api https://ice.example/dsp/2025-1',
      'config https://glacier.example/dsp',
      'config https://meteo.example/dsp/2025-1',
    ])
  })

  it('speaks to peers as the identity on the context, else with the configured static token', async () => {
    expect(await tokenIssuerOf(ctx)!.authorizationFor({ dspUrl: 'https://x' })).toBe('Bearer from-identity')
    const config = testConfig({ identity: { mode: 'static', staticTokens: { 'our-token': 'did:web:127.0.0.1%3A8181' } } })
    expect(await tokenIssuerOf({ ...ctx, identity: undefined, config })!.authorizationFor({ dspUrl: 'https://x' })).toBe('Bearer our-token')
    expect(tokenIssuerOf({ ...ctx, identity: undefined })).toBeUndefined()
  })
})
