import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Hono } from 'hono'
import { agreementFor, compilePolicyText } from '../../policies/index.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { createErrorRenderers } from '../http/error-response.ts'
import { createOpenApiRegistry } from '../management/openapi.ts'
import type { Store } from '../store/store.ts'
import { enginePolicyUsage } from './adapters.ts'
import { obligationRoutes } from './obligation-routes.ts'
import { repo } from './service.ts'
import { agreement, agreementBook, stopTestDispatchers, transferTestCtx } from '../../test/support/transfer.ts'

const provider = 'did:web:provider.test'
const consumer = 'did:web:consumer.test'
const policyText = [
  'id: credit-and-pay',
  'title: Credit the source and pay',
  'permissions:',
  '  - action: use',
  '    duties:',
  '      - action: attribute',
  '      - action: compensate',
].join('\n')

let store: Store
beforeEach(async () => {
  store = await createTestStore('sqlite')
})
afterEach(async () => {
  await stopTestDispatchers()
  await store.close()
})

async function setup() {
  const { policy, errors } = await compilePolicyText(policyText, 'credit-and-pay.yaml')
  expect(errors).toEqual([])
  const signedAt = new Date('2026-11-01T00:00:00Z')
  const body = agreementFor(policy!, { id: 'urn:agreement:1', target: 'urn:dataset:weather', assigner: provider, assignee: consumer, timestamp: signedAt })
  const t = transferTestCtx({
    store,
    participantId: provider,
    agreements: agreementBook([
      agreement('urn:agreement:1', {
        assigner: provider,
        assignee: consumer,
        signedAt,
        policy: body,
        offerId: policy!.odrl['@id'],
        policyId: 'credit-and-pay',
      }),
    ]),
    usage: enginePolicyUsage,
  })
  const openapi = createOpenApiRegistry({ title: 'test', version: '0' })
  const errorsOut = createErrorRenderers()
  const app = new Hono()
  app.route('/', obligationRoutes({ ctx: t.ctx, openapi }) as unknown as Hono)
  app.onError((error, c) => errorsOut.render(error, c))
  const json = (path: string, method = 'GET', input?: unknown) =>
    app.request(path, {
      method,
      headers: input === undefined ? {} : { 'content-type': 'application/json' },
      ...(input === undefined ? {} : { body: typeof input === 'string' ? input : JSON.stringify(input) }),
    })
  await store.transaction((tx) =>
    repo(t.ctx).insert(
      tx,
      {
        id: 'urn:uuid:p1',
        role: 'provider',
        providerPid: 'urn:uuid:p1',
        consumerPid: 'urn:uuid:c1',
        agreementId: 'urn:agreement:1',
        datasetId: 'urn:dataset:weather',
        counterpartyId: consumer,
        counterpartyAddress: 'http://consumer.test/dsp',
        format: 'HttpData-PULL',
        state: 'STARTED',
      },
      { cause: 'test', actor: 'local' },
    ),
  )
  return { ...t, json, openapi }
}

describe('management: obligations of an agreement', () => {
  it('lists the duties of an agreement made before duties were recorded at agreement time, acknowledged since it is finalized, with the policy file id and the usage count', async () => {
    const t = await setup()
    const res = await t.json('/agreements/urn:agreement:1/obligations')
    expect(res.status).toBe(200)
    const body = (await res.json()) as any
    expect(body).toMatchObject({ agreementId: 'urn:agreement:1', policy: 'credit-and-pay', accessCount: 0 })
    expect(body.items.map((o: any) => [o.id, o.action, o.checkedBy, o.status])).toEqual([
      ['permission-1-duty-1', 'attribute', 'operator', 'acknowledged'],
      ['permission-1-duty-2', 'compensate', 'operator', 'acknowledged'],
    ])
    expect(body.timeline[0].reason).toContain("acknowledged by the consumer's agreement verification")
    expect(body.items[0].text).toMatch(/attribut|credit/i)
    // Listing again records nothing twice.
    const again = (await (await t.json('/agreements/urn:agreement:1/obligations')).json()) as any
    expect(again.items).toHaveLength(2)
    expect(again.timeline).toHaveLength(2)
  })

  it('marks a duty fulfilled, then pending again, each change in the timeline with its reason', async () => {
    const t = await setup()
    const marked = await t.json('/agreements/urn:agreement:1/obligations/permission-1-duty-2', 'POST', { status: 'fulfilled', reason: 'invoice 2026-117 paid' })
    expect(marked.status).toBe(200)
    expect(await marked.json()).toMatchObject({ id: 'permission-1-duty-2', status: 'fulfilled', reason: 'invoice 2026-117 paid' })
    await t.json('/agreements/urn:agreement:1/obligations/permission-1-duty-2', 'POST', { status: 'pending' })
    const body = (await (await t.json('/agreements/urn:agreement:1/obligations')).json()) as any
    expect(body.timeline.filter((e: any) => e.obligationId === 'permission-1-duty-2').map((e: any) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
      [null, 'acknowledged', consumer],
      ['acknowledged', 'fulfilled', 'management'],
      ['fulfilled', 'pending', 'management'],
    ])
    // The transfer was not touched.
    expect((await repo(t.ctx).get(store.db, 'urn:uuid:p1'))?.state).toBe('STARTED')
  })

  it('marking a duty violated ends the running transfer with the reason naming the duty and the policy file', async () => {
    const t = await setup()
    const res = await t.json('/agreements/urn:agreement:1/obligations/permission-1-duty-2', 'POST', {
      status: 'violated',
      reason: 'invoice 2026-117 unpaid after 60 days',
    })
    expect(res.status).toBe(200)
    await t.queue.settle()
    const transfer = await repo(t.ctx).get(store.db, 'urn:uuid:p1')
    expect(transfer).toMatchObject({ state: 'TERMINATED' })
    expect(transfer!.reason).toContain('`permission-1-duty-2`')
    expect(transfer!.reason).toContain('`credit-and-pay`')
    expect(transfer!.reason).toContain('invoice 2026-117 unpaid after 60 days')
    expect(t.sent.find((m) => m.url.endsWith('/transfers/urn:uuid:c1/termination'))?.body).toMatchObject({ '@type': 'TransferTerminationMessage' })
  })

  it('answers 404 for an unknown agreement or obligation, and 400 for a bad status or extra fields, changing nothing', async () => {
    const t = await setup()
    expect((await t.json('/agreements/urn:agreement:other/obligations')).status).toBe(404)
    expect((await t.json('/agreements/urn:agreement:other/obligations/obligation-1', 'POST', { status: 'fulfilled' })).status).toBe(404)
    expect((await t.json('/agreements/urn:agreement:1/obligations/obligation-9', 'POST', { status: 'fulfilled' })).status).toBe(404)
    for (const bad of [{ status: 'done' }, { status: 'fulfilled', by: 'me' }, {}, '{', { status: 'violated', reason: '' }]) {
      expect((await t.json('/agreements/urn:agreement:1/obligations/permission-1-duty-1', 'POST', bad)).status, JSON.stringify(bad)).toBe(400)
    }
    const body = (await (await t.json('/agreements/urn:agreement:1/obligations')).json()) as any
    expect(body.items.every((o: any) => o.status === 'acknowledged')).toBe(true)
    expect(body.timeline).toHaveLength(2)
    expect((await repo(t.ctx).get(store.db, 'urn:uuid:p1'))?.state).toBe('STARTED')
  })

  it('describes both operations in the OpenAPI document', async () => {
    const t = await setup()
    const paths = (t.openapi.document('http://x') as any).paths
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/agreements/{id}/obligations', '/agreements/{id}/obligations/{obligationId}']))
    expect(paths['/agreements/{id}/obligations/{obligationId}'].post.requestBody.content['application/json'].schema.properties.status.enum).toEqual([
      'pending',
      'acknowledged',
      'fulfilled',
      'violated',
    ])
  })
})
