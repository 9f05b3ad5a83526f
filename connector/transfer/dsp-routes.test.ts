import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { expectDspValid } from '../../test/support/dsp-schemas.ts'
import type { Store } from '../store/store.ts'
import { transferDspRoutes } from './dsp-routes.ts'
import { dspContext } from './messages.ts'
import { repo } from './service.ts'
import { tckTransferAgreements, tckTransferScripts, tckTransferTrigger } from './tck.ts'
import {
  agreement,
  agreementBook,
  answerWith,
  bearerFor,
  recordingMessenger,
  staticAuthenticator,
  stopTestDispatchers,
  transferTestCtx,
} from '../../test/support/transfer.ts'
import { Hono } from 'hono'
import { dspPath } from '../config/config.ts'
import { registerDspErrors } from '../dsp/errors.ts'
import { createErrorRenderers } from '../http/error-response.ts'

/**
 * The DSP routes (and the TCK trigger) as the app serves them: the DSP ones under the DSP base, all
 * answered by the app's error handling (TransferError bodies under `/transfers`). Paths are given
 * without the DSP base, as peers see them relative to it.
 */
function served(dsp: Hono<any>, root?: Hono<any>) {
  const errors = createErrorRenderers()
  registerDspErrors(errors, 'TransferError')
  const app = new Hono()
  app.route(dspPath, dsp)
  if (root) app.route('/', root)
  app.onError((error, c) => errors.render(error, c))
  return { request: (path: string, init?: RequestInit) => app.request(path.startsWith('/tck/') ? path : `${dspPath}${path}`, init) }
}

const provider = 'did:web:provider.test'
const consumer = 'did:web:consumer.test'
const tck = 'did:web:tck.test'
const schemaOf: Record<string, string> = {
  TransferStartMessage: 'transfer/transfer-start-message-schema.json',
  TransferCompletionMessage: 'transfer/transfer-completion-message-schema.json',
  TransferSuspensionMessage: 'transfer/transfer-suspension-message-schema.json',
  TransferTerminationMessage: 'transfer/transfer-termination-message-schema.json',
  TransferRequestMessage: 'transfer/transfer-request-message-schema.json',
}
const pathOf = {
  start: 'TransferStartMessage',
  completion: 'TransferCompletionMessage',
  suspension: 'TransferSuspensionMessage',
  termination: 'TransferTerminationMessage',
} as const
type Path = keyof typeof pathOf

let store: Store
describe.each(dialects)('transfer DSP endpoints on %s', (dialect) => {
  // One database per dialect; every test starts from empty tables.
  beforeAll(async () => {
    store = await createTestStore(dialect)
  })
  afterAll(() => store.close())
  afterEach(() => stopTestDispatchers())
  beforeEach(async () => {
    const t = store.tables
    for (const table of [t.transfers, t.transferEvents, t.dataAccesses, t.dispatches]) await store.db.delete(table)
  })

  function providerSide(agreements = agreementBook(tckTransferAgreements({ self: provider, tck }))) {
    const messenger = recordingMessenger()
    const t = transferTestCtx({ store, participantId: provider, agreements, scripts: tckTransferScripts(), messenger })
    const app = served(transferDspRoutes({ ctx: t.ctx, authenticator: staticAuthenticator }))
    const post = (path: string, body: unknown, as = tck) =>
      app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...bearerFor(as) }, body: JSON.stringify(body) })
    const request = (agreementId: string, consumerPid = 'urn:uuid:tck-consumer-1', as = tck) =>
      post(
        '/transfers/request',
        {
          '@context': [...dspContext],
          '@type': 'TransferRequestMessage',
          consumerPid,
          agreementId,
          format: 'HttpData-PULL',
          callbackAddress: 'http://tck.test/callback/',
        },
        as,
      )
    return { ...t, app, messenger, post, request }
  }

  const message = (path: Path, providerPid: string, consumerPid: string) => ({
    '@context': [...dspContext],
    '@type': pathOf[path],
    providerPid,
    consumerPid,
    ...(path === 'termination' || path === 'suspension' ? { code: '1', reason: ['test'] } : {}),
  })

  describe('a dispatch that finally fails', () => {
    it('terminates the transfer and sends the peer a TransferTerminationMessage with the reason', async () => {
      // The consumer refuses our start message (a 400 is final) and takes everything else.
      const messenger = recordingMessenger((m) => (m.body['@type'] === 'TransferStartMessage' ? answerWith(400, { reason: ['no thanks'] }) : {}))
      const t = transferTestCtx({ store, participantId: provider, agreements: agreementBook(tckTransferAgreements({ self: provider, tck })), messenger })
      const app = transferDspRoutes({ ctx: t.ctx, authenticator: staticAuthenticator })
      const res = await app.request('/transfers/request', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearerFor(tck) },
        body: JSON.stringify({
          '@context': [...dspContext],
          '@type': 'TransferRequestMessage',
          consumerPid: 'urn:uuid:tck-consumer-1',
          agreementId: 'ATP0101',
          format: 'HttpData-PULL',
          callbackAddress: 'http://tck.test/callback/',
        }),
      })
      expect(res.status).toBe(201)
      const { providerPid } = (await res.json()) as { providerPid: string }
      await t.queue.settle()
      expect(messenger.sent.map((m) => m.body['@type'])).toEqual(['TransferStartMessage', 'TransferTerminationMessage'])
      const told = messenger.sent[1]!
      expectDspValid(schemaOf.TransferTerminationMessage!, told.body)
      expect(told.url).toBe('http://tck.test/callback/transfers/urn:uuid:tck-consumer-1/termination')
      expect(told.body).toMatchObject({
        providerPid,
        consumerPid: 'urn:uuid:tck-consumer-1',
        code: 'dispatch-failed',
        reason: [expect.stringMatching(/the peer answered 400/)],
      })
      expect((await repo(t.ctx).get(store.db, providerPid))?.state).toBe('TERMINATED')
    })
  })

  describe('provider endpoints, mirroring the TCK provider cases', () => {
    const cases: Array<{ id: string; agreement: string; sent: string[]; then: Array<[Path, number]>; final: string }> = [
      { id: 'TP:01-01', agreement: 'ATP0101', sent: ['start', 'termination'], then: [], final: 'TERMINATED' },
      { id: 'TP:01-02', agreement: 'ATP0102', sent: ['start', 'completion'], then: [], final: 'COMPLETED' },
      { id: 'TP:01-03', agreement: 'ATP0103', sent: ['start', 'suspension', 'termination'], then: [], final: 'TERMINATED' },
      { id: 'TP:01-04', agreement: 'ATP0104', sent: ['start', 'suspension', 'start', 'completion'], then: [], final: 'COMPLETED' },
      { id: 'TP:01-05', agreement: 'ATP0105', sent: ['termination'], then: [], final: 'TERMINATED' },
      { id: 'TP:02-01', agreement: 'ATP0201', sent: ['start'], then: [['termination', 200]], final: 'TERMINATED' },
      { id: 'TP:02-02', agreement: 'ATP0202', sent: ['start'], then: [['completion', 200]], final: 'COMPLETED' },
      {
        id: 'TP:02-03',
        agreement: 'ATP0203',
        sent: ['start'],
        then: [
          ['suspension', 200],
          ['termination', 200],
        ],
        final: 'TERMINATED',
      },
      { id: 'TP:02-05', agreement: 'ATP0205', sent: [], then: [['termination', 200]], final: 'TERMINATED' },
      { id: 'TP:03-01', agreement: 'ATP0301', sent: [], then: [['completion', 400]], final: 'REQUESTED' },
      { id: 'TP:03-02', agreement: 'ATP0302', sent: [], then: [['suspension', 400]], final: 'REQUESTED' },
      {
        id: 'TP:03-03',
        agreement: 'ATP0303',
        sent: ['start'],
        then: [
          ['suspension', 200],
          ['completion', 400],
        ],
        final: 'SUSPENDED',
      },
      {
        id: 'TP:03-04',
        agreement: 'ATP0304',
        sent: ['start'],
        then: [
          ['termination', 200],
          ['start', 400],
        ],
        final: 'TERMINATED',
      },
      {
        id: 'TP:03-05',
        agreement: 'ATP0305',
        sent: ['start'],
        then: [
          ['termination', 200],
          ['suspension', 400],
        ],
        final: 'TERMINATED',
      },
      {
        id: 'TP:03-06',
        agreement: 'ATP0306',
        sent: ['start'],
        then: [
          ['termination', 200],
          ['completion', 400],
        ],
        final: 'TERMINATED',
      },
    ]

    it.each(cases)('$id ($agreement) ends $final', async ({ agreement: agreementId, sent, then, final }) => {
      const p = providerSide()
      const created = await p.request(agreementId)
      expect(created.status).toBe(201)
      const process = (await created.json()) as { providerPid: string; consumerPid: string; state: string }
      expectDspValid('transfer/transfer-process-schema.json', process)
      expect(process.state).toBe('REQUESTED')
      expect(p.messenger.sent).toHaveLength(0) // nothing goes out before the answer
      await p.queue.settle()
      expect(p.messenger.sent.map((m) => m.url)).toEqual(sent.map((s) => `http://tck.test/callback/transfers/urn:uuid:tck-consumer-1/${s}`))
      for (const m of p.messenger.sent) expectDspValid(schemaOf[m.body['@type'] as string]!, m.body)
      const start = p.messenger.sent.find((m) => m.body['@type'] === 'TransferStartMessage')
      if (start) expect((start.body.dataAddress as { endpointType: string }).endpointType).toBe('https://w3id.org/idsa/v4.1/HTTP')
      for (const [path, status] of then) {
        const before = (await (await p.app.request(`/transfers/${process.providerPid}`, { headers: bearerFor(tck) })).json()) as { state: string }
        const res = await p.post(`/transfers/${process.providerPid}/${path}`, message(path, process.providerPid, 'urn:uuid:tck-consumer-1'))
        expect(res.status).toBe(status)
        const body = await res.json()
        if (status === 400) {
          expectDspValid('transfer/transfer-error-schema.json', body)
          expect(body).toMatchObject({ '@type': 'TransferError', providerPid: process.providerPid, consumerPid: 'urn:uuid:tck-consumer-1' })
          const after = (await (await p.app.request(`/transfers/${process.providerPid}`, { headers: bearerFor(tck) })).json()) as { state: string }
          expect(after.state).toBe(before.state)
        } else expectDspValid('transfer/transfer-process-schema.json', body)
      }
      const read = await p.app.request(`/transfers/${process.providerPid}`, { headers: bearerFor(tck) })
      expect(read.status).toBe(200)
      expect(await read.json()).toMatchObject({ state: final, providerPid: process.providerPid, consumerPid: 'urn:uuid:tck-consumer-1' })
    })

    it('records every transition in the timeline with who caused it', async () => {
      const p = providerSide()
      const { providerPid } = (await (await p.request('ATP0103')).json()) as { providerPid: string }
      await p.queue.settle()
      const events = await repo(p.ctx).timeline(store.db, providerPid)
      expect(events.map((e) => [e.fromState, e.toState, e.cause, e.actor])).toEqual([
        [null, 'REQUESTED', 'TransferRequestMessage', 'peer'],
        ['REQUESTED', 'STARTED', 'TransferStartMessage', 'local'],
        ['STARTED', 'SUSPENDED', 'TransferSuspensionMessage', 'local'],
        ['SUSPENDED', 'TERMINATED', 'TransferTerminationMessage', 'local'],
      ])
    })

    it('answers a retried message again (same message after our answer was lost), and nothing changes', async () => {
      const p = providerSide()
      const { providerPid } = (await (await p.request('ATP0201')).json()) as { providerPid: string }
      await p.queue.settle()
      const termination = message('termination', providerPid, 'urn:uuid:tck-consumer-1')
      expect((await p.post(`/transfers/${providerPid}/termination`, termination)).status).toBe(200)
      const again = await p.post(`/transfers/${providerPid}/termination`, termination)
      expect(again.status).toBe(200)
      expect(await again.json()).toMatchObject({ state: 'TERMINATED' })
      expect(await repo(p.ctx).timeline(store.db, providerPid)).toHaveLength(3)
      // A different message in that state is still refused.
      expect((await p.post(`/transfers/${providerPid}/completion`, message('completion', providerPid, 'urn:uuid:tck-consumer-1'))).status).toBe(400)
    })

    it('answers a repeated request with the process it already created', async () => {
      const p = providerSide()
      const first = (await (await p.request('ATP0301')).json()) as { providerPid: string }
      const again = await p.request('ATP0301')
      expect(again.status).toBe(201)
      expect(((await again.json()) as { providerPid: string }).providerPid).toBe(first.providerPid)
      expect(await repo(p.ctx).list(store.db)).toHaveLength(1)
    })

    it('refuses an unauthenticated request with 401 and stores nothing', async () => {
      const p = providerSide()
      const res = await p.app.request('/transfers/request', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
      expect(res.status).toBe(401)
      expectDspValid('transfer/transfer-error-schema.json', await res.json())
      expect(await repo(p.ctx).list(store.db)).toHaveLength(0)
    })

    it('answers 404 for an agreement made with another participant, and stores nothing', async () => {
      const p = providerSide()
      const res = await p.request('ATP0101', 'urn:uuid:x', 'did:web:intruder.test')
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ '@type': 'TransferError', consumerPid: 'urn:uuid:x' })
      expect(await repo(p.ctx).list(store.db)).toHaveLength(0)
    })

    it('answers 404 for an unknown agreement and 400 for one not FINALIZED', async () => {
      const p = providerSide(agreementBook([agreement('urn:agreement:pending', { state: 'AGREED', assigner: provider, assignee: tck })]))
      expect((await p.request('urn:agreement:nope')).status).toBe(404)
      const pending = await p.request('urn:agreement:pending')
      expect(pending.status).toBe(400)
      expectDspValid('transfer/transfer-error-schema.json', await pending.json())
      expect(await repo(p.ctx).list(store.db)).toHaveLength(0)
    })

    it('refuses malformed, mistyped and oversized messages with a clear 4xx and changes nothing', async () => {
      const p = providerSide()
      const { providerPid } = (await (await p.request('ATP0201')).json()) as { providerPid: string }
      await p.queue.settle()
      const notJson = await p.app.request(`/transfers/${providerPid}/termination`, { method: 'POST', headers: bearerFor(tck), body: '{oops' })
      expect(notJson.status).toBe(400)
      const noContext = await p.post(`/transfers/${providerPid}/termination`, {
        ...message('termination', providerPid, 'urn:uuid:tck-consumer-1'),
        '@context': ['https://example.com/other'],
      })
      expect(noContext.status).toBe(400)
      const wrongType = await p.post(`/transfers/${providerPid}/termination`, message('completion', providerPid, 'urn:uuid:tck-consumer-1'))
      expect(wrongType.status).toBe(400)
      const huge = await p.post(`/transfers/${providerPid}/termination`, {
        ...message('termination', providerPid, 'urn:uuid:tck-consumer-1'),
        reason: ['x'.repeat(300_000)],
      })
      expect(huge.status).toBe(413)
      const unknownFormat = await p.post('/transfers/request', {
        '@context': [...dspContext],
        '@type': 'TransferRequestMessage',
        consumerPid: 'urn:uuid:y',
        agreementId: 'ATP0201',
        format: 'FTP-PULL',
        callbackAddress: 'http://tck.test/cb',
      })
      expect(unknownFormat.status).toBe(400)
      const push = await p.post('/transfers/request', {
        '@context': [...dspContext],
        '@type': 'TransferRequestMessage',
        consumerPid: 'urn:uuid:z',
        agreementId: 'ATP0201',
        format: 'HttpData-PUSH',
        callbackAddress: 'http://tck.test/cb',
      })
      expect(push.status).toBe(400)
      const elsewhere = await p.post('/transfers/request', {
        '@context': [...dspContext],
        '@type': 'TransferRequestMessage',
        consumerPid: 'urn:uuid:v',
        agreementId: 'ATP0201',
        format: 'HttpData-PUSH',
        callbackAddress: 'http://tck.test/cb',
        dataAddress: {
          '@type': 'DataAddress',
          endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
          endpoint: 'http://169.254.169.254/latest',
          endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 't' }],
        },
      })
      expect(elsewhere.status).toBe(400)
      expect(await elsewhere.text()).toContain('the push destination is not allowed')
      for (const callbackAddress of ['file:///etc/passwd', 'javascript:alert(1)', 'not a url']) {
        const bad = await p.post('/transfers/request', {
          '@context': [...dspContext],
          '@type': 'TransferRequestMessage',
          consumerPid: 'urn:uuid:w',
          agreementId: 'ATP0201',
          format: 'HttpData-PULL',
          callbackAddress,
        })
        expect(bad.status).toBe(400)
      }
      const state = await repo(p.ctx).get(store.db, providerPid)
      expect(state?.state).toBe('STARTED')
      expect(await repo(p.ctx).list(store.db)).toHaveLength(1)
    })

    it("answers 404 to another participant's messages and reads, and to pids that do not match, changing nothing", async () => {
      const p = providerSide()
      const { providerPid } = (await (await p.request('ATP0201')).json()) as { providerPid: string }
      await p.queue.settle()
      expect((await p.app.request(`/transfers/${providerPid}`, { headers: bearerFor('did:web:intruder.test') })).status).toBe(404)
      const foreign = await p.post(
        `/transfers/${providerPid}/termination`,
        message('termination', providerPid, 'urn:uuid:tck-consumer-1'),
        'did:web:intruder.test',
      )
      expect(foreign.status).toBe(404)
      const otherConsumerPid = await p.post(`/transfers/${providerPid}/termination`, message('termination', providerPid, 'urn:uuid:someone-else'))
      expect(otherConsumerPid.status).toBe(404)
      expect((await p.post('/transfers/urn:uuid:unknown/termination', message('termination', 'urn:uuid:unknown', 'urn:uuid:tck-consumer-1'))).status).toBe(404)
      expect((await repo(p.ctx).get(store.db, providerPid))?.state).toBe('STARTED')
    })

    it('terminates with the policy reason when the agreement does not hold at transfer start', async () => {
      const messenger = recordingMessenger()
      const t = transferTestCtx({
        store,
        participantId: provider,
        agreements: agreementBook([agreement('urn:agreement:late', { assigner: provider, assignee: tck })]),
        usage: { check: () => ({ allowed: false, reason: 'the agreement ended on 2026-11-01' }) },
        messenger,
      })
      const app = served(transferDspRoutes({ ctx: t.ctx, authenticator: staticAuthenticator }))
      const res = await app.request('/transfers/request', {
        method: 'POST',
        headers: bearerFor(tck),
        body: JSON.stringify({
          '@context': [...dspContext],
          '@type': 'TransferRequestMessage',
          consumerPid: 'urn:uuid:c',
          agreementId: 'urn:agreement:late',
          format: 'HttpData-PULL',
          callbackAddress: 'http://tck.test/cb',
        }),
      })
      expect(res.status).toBe(201)
      await t.queue.settle()
      expect(messenger.sent.map((m) => m.body['@type'])).toEqual(['TransferTerminationMessage'])
      expect(messenger.sent[0]!.body.reason).toEqual(['the agreement ended on 2026-11-01'])
      const [row] = await repo(t.ctx).list(store.db)
      expect(row).toMatchObject({ state: 'TERMINATED', reason: 'the agreement ended on 2026-11-01' })
    })

    it('terminates a transfer whose start message cannot be delivered, with the reason', async () => {
      const messenger = recordingMessenger(() => {
        throw new Error('connection refused')
      })
      const t = transferTestCtx({ store, participantId: provider, agreements: agreementBook(tckTransferAgreements({ self: provider, tck })), messenger })
      const app = served(transferDspRoutes({ ctx: t.ctx, authenticator: staticAuthenticator }))
      await app.request('/transfers/request', {
        method: 'POST',
        headers: bearerFor(tck),
        body: JSON.stringify({
          '@context': [...dspContext],
          '@type': 'TransferRequestMessage',
          consumerPid: 'urn:uuid:c',
          agreementId: 'ATP0201',
          format: 'HttpData-PULL',
          callbackAddress: 'http://tck.test/cb',
        }),
      })
      await t.queue.settle()
      const [row] = await repo(t.ctx).list(store.db)
      expect(row?.state).toBe('TERMINATED')
      expect(row?.reason).toContain('the peer could not be reached')
    })
  })

  describe('consumer endpoints, mirroring the TCK consumer cases', () => {
    function consumerSide() {
      const messenger = recordingMessenger((m) =>
        m.url.endsWith('/transfers/request')
          ? {
              '@context': [...dspContext],
              '@type': 'TransferProcess',
              providerPid: 'urn:uuid:tck-provider-1',
              consumerPid: m.body.consumerPid,
              state: 'REQUESTED',
            }
          : {},
      )
      const t = transferTestCtx({
        store,
        participantId: consumer,
        agreements: agreementBook(tckTransferAgreements({ self: consumer, tck })),
        scripts: tckTransferScripts(),
        messenger,
      })
      const app = served(transferDspRoutes({ ctx: t.ctx, authenticator: staticAuthenticator }), tckTransferTrigger({ ctx: t.ctx }))
      const post = (path: string, body: unknown, as = tck) =>
        app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...bearerFor(as) }, body: JSON.stringify(body) })
      return { ...t, app, messenger, post }
    }

    const cases: Array<{ id: string; agreement: string; then: Array<[Path, number]>; sent: string[]; final: string }> = [
      {
        id: 'TP_C:01-01',
        agreement: 'ATPC0101',
        then: [
          ['start', 200],
          ['termination', 200],
        ],
        sent: [],
        final: 'TERMINATED',
      },
      {
        id: 'TP_C:01-02',
        agreement: 'ATPC0102',
        then: [
          ['start', 200],
          ['completion', 200],
        ],
        sent: [],
        final: 'COMPLETED',
      },
      {
        id: 'TP_C:01-03',
        agreement: 'ATPC0103',
        then: [
          ['start', 200],
          ['suspension', 200],
          ['termination', 200],
        ],
        sent: [],
        final: 'TERMINATED',
      },
      {
        id: 'TP_C:01-04',
        agreement: 'ATPC0104',
        then: [
          ['start', 200],
          ['suspension', 200],
          ['start', 200],
          ['completion', 200],
        ],
        sent: [],
        final: 'COMPLETED',
      },
      { id: 'TP_C:01-05', agreement: 'ATPC0105', then: [['termination', 200]], sent: [], final: 'TERMINATED' },
      { id: 'TP_C:02-01', agreement: 'ATPC0201', then: [['start', 200]], sent: ['termination'], final: 'TERMINATED' },
      { id: 'TP_C:02-02', agreement: 'ATPC0202', then: [['start', 200]], sent: ['completion'], final: 'COMPLETED' },
      { id: 'TP_C:02-03', agreement: 'ATPC0203', then: [['start', 200]], sent: ['suspension', 'termination'], final: 'TERMINATED' },
      { id: 'TP_C:02-05', agreement: 'ATPC0205', then: [], sent: ['termination'], final: 'TERMINATED' },
      { id: 'TP_C:03-01', agreement: 'ATPC0301', then: [['completion', 400]], sent: [], final: 'REQUESTED' },
      { id: 'TP_C:03-02', agreement: 'ATPC0302', then: [['suspension', 400]], sent: [], final: 'REQUESTED' },
      {
        id: 'TP_C:03-03',
        agreement: 'ATPC0303',
        then: [
          ['start', 200],
          ['suspension', 200],
          ['completion', 400],
        ],
        sent: [],
        final: 'SUSPENDED',
      },
      {
        id: 'TP_C:03-04',
        agreement: 'ATPC0304',
        then: [
          ['start', 200],
          ['termination', 200],
          ['start', 400],
        ],
        sent: [],
        final: 'TERMINATED',
      },
      {
        id: 'TP_C:03-05',
        agreement: 'ATPC0305',
        then: [
          ['start', 200],
          ['termination', 200],
          ['suspension', 400],
        ],
        sent: [],
        final: 'TERMINATED',
      },
      {
        id: 'TP_C:03-06',
        agreement: 'ATPC0306',
        then: [
          ['start', 200],
          ['termination', 200],
          ['completion', 400],
        ],
        sent: [],
        final: 'TERMINATED',
      },
    ]

    it.each(cases)('$id ($agreement) ends $final', async ({ agreement: agreementId, then, sent, final }) => {
      const c = consumerSide()
      const trigger = await c.post('/tck/transfers', { providerId: tck, agreementId, format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' })
      expect(trigger.status).toBe(200)
      const { consumerPid } = (await trigger.json()) as { consumerPid: string }
      await c.queue.settle()
      const request = c.messenger.sent[0]!
      expect(request.url).toBe('http://tck.test/dsp/transfers/request')
      expectDspValid(schemaOf.TransferRequestMessage!, request.body)
      expect(request.body).toMatchObject({ agreementId, format: 'HttpData-PULL', callbackAddress: 'http://127.0.0.1:1/dsp' })
      for (const [path, status] of then) {
        const body = message(path, 'urn:uuid:tck-provider-1', consumerPid)
        if (path === 'start')
          Object.assign(body, {
            dataAddress: {
              '@type': 'DataAddress',
              endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
              endpoint: 'http://tck.test/data',
              endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 't' }],
            },
          })
        const res = await c.post(`/transfers/${consumerPid}/${path}`, body)
        expect(res.status).toBe(status)
        if (status === 400) expect(await res.json()).toMatchObject({ '@type': 'TransferError', providerPid: 'urn:uuid:tck-provider-1', consumerPid })
        await c.queue.settle()
      }
      await c.queue.settle()
      const out = c.messenger.sent.slice(1)
      expect(out.map((m) => m.url)).toEqual(sent.map((s) => `http://tck.test/dsp/transfers/urn:uuid:tck-provider-1/${s}`))
      for (const m of out) expectDspValid(schemaOf[m.body['@type'] as string]!, m.body)
      const read = await c.app.request(`/transfers/${consumerPid}`, { headers: bearerFor(tck) })
      expect(await read.json()).toMatchObject({ state: final, consumerPid, providerPid: 'urn:uuid:tck-provider-1' })
    })

    it('a start, completion or termination sent again after the process moved on is acknowledged (200) with the current state; nothing changes', async () => {
      const c = consumerSide()
      const { consumerPid } = (await (
        await c.post('/tck/transfers', { providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' })
      ).json()) as { consumerPid: string }
      await c.queue.settle()
      const address = {
        '@type': 'DataAddress',
        endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
        endpoint: 'http://tck.test/data',
        endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 't' }],
      }
      const start = { ...message('start', 'urn:uuid:tck-provider-1', consumerPid), dataAddress: address }
      expect((await c.post(`/transfers/${consumerPid}/start`, start)).status).toBe(200)
      const startedAgain = await c.post(`/transfers/${consumerPid}/start`, { ...start, '@context': [...dspContext] })
      expect(startedAgain.status).toBe(200)
      expect(await startedAgain.json()).toMatchObject({ state: 'STARTED' })
      const completion = message('completion', 'urn:uuid:tck-provider-1', consumerPid)
      expect((await c.post(`/transfers/${consumerPid}/completion`, completion)).status).toBe(200)
      const before = await repo(c.ctx).timeline(store.db, consumerPid)
      // Keys in another order are the same message.
      const reordered = Object.fromEntries(Object.entries(start).reverse())
      for (const [path, body] of [
        ['start', reordered],
        ['completion', completion],
      ] as const) {
        const again = await c.post(`/transfers/${consumerPid}/${path}`, body)
        expect(again.status, `${path} again`).toBe(200)
        expect(await again.json()).toMatchObject({ state: 'COMPLETED' })
      }
      expect(await repo(c.ctx).timeline(store.db, consumerPid)).toEqual(before)
    })

    it('a conflicting message (a start with another data address, a suspension never received) after completion is refused (400); nothing changes', async () => {
      const c = consumerSide()
      const { consumerPid } = (await (
        await c.post('/tck/transfers', { providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' })
      ).json()) as { consumerPid: string }
      await c.queue.settle()
      const address = {
        '@type': 'DataAddress',
        endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
        endpoint: 'http://tck.test/data',
        endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 't' }],
      }
      const start = { ...message('start', 'urn:uuid:tck-provider-1', consumerPid), dataAddress: address }
      await c.post(`/transfers/${consumerPid}/start`, start)
      await c.post(`/transfers/${consumerPid}/completion`, message('completion', 'urn:uuid:tck-provider-1', consumerPid))
      const before = await repo(c.ctx).timeline(store.db, consumerPid)
      const otherAddress = { ...start, dataAddress: { ...address, endpoint: 'http://tck.test/elsewhere' } }
      for (const [path, body] of [
        ['start', otherAddress],
        ['suspension', message('suspension', 'urn:uuid:tck-provider-1', consumerPid)],
      ] as const) {
        const res = await c.post(`/transfers/${consumerPid}/${path}`, body)
        expect(res.status, path).toBe(400)
        expect(await res.json()).toMatchObject({ '@type': 'TransferError', consumerPid })
      }
      expect(await repo(c.ctx).timeline(store.db, consumerPid)).toEqual(before)
      expect((await repo(c.ctx).get(store.db, consumerPid))?.dataAddress).toEqual(address)
    })

    it('keeps the data address the provider sent with its start message', async () => {
      const c = consumerSide()
      const { consumerPid } = (await (
        await c.post('/tck/transfers', { providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' })
      ).json()) as { consumerPid: string }
      await c.queue.settle()
      const address = {
        '@type': 'DataAddress',
        endpointType: 'https://w3id.org/idsa/v4.1/HTTP',
        endpoint: 'http://tck.test/data',
        endpointProperties: [{ '@type': 'EndpointProperty', name: 'authorization', value: 'secret' }],
      }
      await c.post(`/transfers/${consumerPid}/start`, { ...message('start', 'urn:uuid:tck-provider-1', consumerPid), dataAddress: address })
      expect((await repo(c.ctx).get(store.db, consumerPid))?.dataAddress).toEqual(address)
    })

    it('refuses a trigger with missing fields (400) and a provider that cannot be reached (502, terminated)', async () => {
      const c = consumerSide()
      expect((await c.post('/tck/transfers', { agreementId: 'ATPC0101' })).status).toBe(400)
      expect(await repo(c.ctx).list(store.db)).toHaveLength(0)
      await stopTestDispatchers()
      const messenger = recordingMessenger(() => {
        throw new Error('connection refused')
      })
      const t = transferTestCtx({ store, participantId: consumer, messenger })
      const app = served(new Hono(), tckTransferTrigger({ ctx: t.ctx }))
      const res = await app.request('/tck/transfers', {
        method: 'POST',
        body: JSON.stringify({ providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' }),
      })
      expect(res.status).toBe(200)
      await t.queue.settle()
      const [row] = await repo(t.ctx).list(store.db)
      expect(row?.state).toBe('TERMINATED')
      expect(row?.reason).toContain('the peer could not be reached')
    })

    it('ends the process with the reason when the provider refuses the request', async () => {
      const messenger = recordingMessenger(() => answerWith(400, { '@type': 'TransferError', reason: ['agreement not finalized'] }))
      const t = transferTestCtx({ store, participantId: consumer, messenger })
      const app = served(new Hono(), tckTransferTrigger({ ctx: t.ctx }))
      await app.request('/tck/transfers', {
        method: 'POST',
        body: JSON.stringify({ providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' }),
      })
      await t.queue.settle()
      const [row] = await repo(t.ctx).list(store.db)
      expect(row?.state).toBe('TERMINATED')
      expect(row?.reason).toContain('agreement not finalized')
    })

    it('refuses the provider starting a transfer of another consumer process (404)', async () => {
      const c = consumerSide()
      const { consumerPid } = (await (
        await c.post('/tck/transfers', { providerId: tck, agreementId: 'ATPC0101', format: 'HttpData-PULL', connectorAddress: 'http://tck.test/dsp' })
      ).json()) as { consumerPid: string }
      await c.queue.settle()
      const res = await c.post(`/transfers/${consumerPid}/start`, message('start', 'urn:uuid:tck-provider-1', consumerPid), 'did:web:intruder.test')
      expect(res.status).toBe(404)
      expect((await repo(c.ctx).get(store.db, consumerPid))?.state).toBe('REQUESTED')
    })
  })
})
