import { context, metrics, trace } from '@opentelemetry/api'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { describe, expect, it } from 'vitest'
import { startTelemetry } from './telemetry.ts'

class TestReader extends MetricReader {
  protected async onShutdown() {}
  protected async onForceFlush() {}
}

describe('process transitions telemetry', () => {
  it('counts every transition by role and states, and adds an event to the active span', async () => {
    await startTelemetry({}) // the context manager that carries the active span
    // It also sets the connector's own meter provider (for /metrics): this test reads through its own.
    metrics.disable()
    const reader = new TestReader()
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    const spans = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
    // Imported after the providers are in place: instruments are created on first use.
    const { recordTransition } = await import('./transitions.ts')

    const span = tracerProvider.getTracer('test').startSpan('POST /negotiations/request')
    context.with(trace.setSpan(context.active(), span), () => {
      recordTransition('negotiation', { id: 'urn:uuid:1', role: 'provider', from: null, to: 'REQUESTED', cause: 'request', actor: 'did:web:peer' })
      recordTransition('negotiation', { id: 'urn:uuid:1', role: 'provider', from: 'REQUESTED', to: 'AGREED', cause: 'agreement', actor: 'local' })
    })
    span.end()

    const { resourceMetrics } = await reader.collect()
    const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'passerelle.negotiation.transitions')!
    expect(metric.dataPoints.map((p) => [p.attributes, p.value])).toEqual(
      expect.arrayContaining([
        [{ role: 'provider', from: 'none', to: 'REQUESTED' }, 1],
        [{ role: 'provider', from: 'REQUESTED', to: 'AGREED' }, 1],
      ]),
    )
    const [finished] = spans.getFinishedSpans()
    expect(finished!.events.map((e) => [e.name, e.attributes?.['negotiation.to']])).toEqual([
      ['negotiation.transition', 'REQUESTED'],
      ['negotiation.transition', 'AGREED'],
    ])
  })
})
