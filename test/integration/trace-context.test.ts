import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SpanKind, trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { PolicyCheck } from '../../connector/negotiation/decision.ts'
import { staticOffers } from '../../connector/negotiation/policy-check.ts'
import { startTelemetry } from '../../connector/telemetry/telemetry.ts'
import { eventually, managementKey, openOffer, startTestConnector, type TestConnector } from '../support/negotiation.ts'

/**
 * One trace spans both connectors of a negotiation: two connectors in this process, over real HTTP,
 * their spans kept in memory. The consumer's outbox sends the request, the provider's outbox sends
 * the agreement and the final event later: every DSP message, both ways, is in the operator's trace.
 */
const providerId = 'did:web:provider.test'
const consumerId = 'did:web:consumer.test'
const tokens = { 'token-provider': providerId, 'token-consumer': consumerId }
const allow: PolicyCheck = () => ({ allowed: true, reason: 'open to everyone' })
const offers = staticOffers({ 'dataset-1': [{ offer: openOffer('offer-1') }] })
const exporter = new InMemorySpanExporter()
const operatorTrace = '4bf92f3577b34da6a3ce929d0e0e4736'

let provider: TestConnector
let consumer: TestConnector
beforeAll(async () => {
  await startTelemetry({})
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  provider = await startTestConnector({ dialect: 'sqlite', participantId: providerId, tokens, serve: true, offers: () => offers, check: allow })
  consumer = await startTestConnector({ dialect: 'postgres', participantId: consumerId, tokens, serve: true, consumerMode: 'auto' })
})
afterAll(async () => {
  await Promise.all([provider?.stop(), consumer?.stop()])
})

const port = (url: string) => new URL(url).port
const dspServerSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.kind === SpanKind.SERVER && String(s.attributes['url.path']).startsWith('/dsp/'))
const clientSpansTo = (spans: ReadableSpan[], url: string) =>
  spans.filter((s) => s.kind === SpanKind.CLIENT && new URL(String(s.attributes['url.full'])).port === port(url))

describe('trace context across two connectors', () => {
  it("the consumer's and the provider's spans of one negotiation share the operator's trace id", async () => {
    exporter.reset()
    const started = await consumer.app.request('/management/v1/negotiations', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${managementKey}`,
        'content-type': 'application/json',
        traceparent: `00-${operatorTrace}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({ peerUrl: provider.dspUrl, peerId: providerId, datasetId: 'dataset-1', offer: openOffer('offer-1') }),
    })
    expect(started.status).toBe(201)
    const { id } = (await started.json()) as { id: string }
    await eventually(async () => {
      const response = await consumer.management('GET', `/negotiations/${id}`)
      return response.body.state === 'FINALIZED' || undefined
    })
    await eventually(async () => (await provider.management('GET', '/negotiations?role=provider')).body.items[0]?.state === 'FINALIZED' || undefined)
    const spans = exporter.getFinishedSpans()
    const sentByConsumer = clientSpansTo(spans, provider.dspUrl)
    const sentByProvider = clientSpansTo(spans, consumer.dspUrl)
    // Request and verification one way, agreement and the final event the other.
    expect(sentByConsumer.length).toBeGreaterThanOrEqual(2)
    expect(sentByProvider.length).toBeGreaterThanOrEqual(2)
    const received = dspServerSpans(spans)
    expect(received.length).toBeGreaterThanOrEqual(4)
    const traces = new Set([...sentByConsumer, ...sentByProvider, ...received].map((s) => s.spanContext().traceId))
    expect([...traces]).toEqual([operatorTrace])
    // Each receiving edge continued the sender's span: its parent is a client span of the other side.
    const clientIds = new Set([...sentByConsumer, ...sentByProvider].map((s) => s.spanContext().spanId))
    for (const span of received) expect(clientIds.has(span.parentSpanContext?.spanId ?? '')).toBe(true)
  })

  it('a malformed traceparent from a peer is ignored: a new trace, never an error', async () => {
    for (const traceparent of ['garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `ff-${operatorTrace}-00f067aa0ba902b7-01`, `00-${operatorTrace}-zz-01`]) {
      exporter.reset()
      const response = await fetch(`${provider.dspUrl}/catalog/request`, {
        method: 'POST',
        headers: { authorization: 'token-consumer', 'content-type': 'application/json', traceparent },
        body: JSON.stringify({ '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage', filter: [] }),
      })
      expect(response.status, traceparent).toBeLessThan(500)
      const [span] = dspServerSpans(exporter.getFinishedSpans())
      expect(span?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/)
      expect(span?.spanContext().traceId).not.toBe(operatorTrace)
      expect(span?.parentSpanContext).toBeUndefined()
    }
  })
})
