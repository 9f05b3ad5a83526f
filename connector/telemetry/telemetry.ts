import { context, metrics, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import type { PullMetricReader } from './prometheus.ts'

/**
 * Tracing and metrics through @opentelemetry/api. Trace context always flows (inbound `traceparent`
 * is continued and propagated to peers); spans and metrics are exported only when the standard OTEL_*
 * variables ask for it, and only then is the (heavy) SDK loaded.
 */
export const tracer = () => trace.getTracer('passerelle')
export const meter = () => metrics.getMeter('passerelle')

let started = false

export interface Telemetry {
  exporting: boolean
  shutdown(): Promise<void>
}

export async function startTelemetry(env: Record<string, string | undefined> = process.env): Promise<Telemetry> {
  if (!started) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    started = true
  }
  if (!exportRequested(env)) {
    // Metrics are kept in the process for the Prometheus scrape even when nothing is exported.
    const [{ MeterProvider }, { PullMetricReader }] = await Promise.all([import('@opentelemetry/sdk-metrics'), import('./prometheus.ts')])
    if (!scrapeReader) {
      scrapeReader = new PullMetricReader()
      metrics.setGlobalMeterProvider(new MeterProvider({ readers: [scrapeReader] }))
    }
    return { exporting: false, shutdown: async () => {} }
  }
  return startExport(env)
}

/**
 * The reader `GET /metrics` collects from. Telemetry is process-wide (OpenTelemetry's global
 * meter provider), so is its reader: connectors sharing a process (tests) share their metrics.
 */
let scrapeReader: PullMetricReader | undefined

/** The process's metrics in the Prometheus text format; empty before telemetry started. */
export async function scrapeMetrics(): Promise<string> {
  if (!scrapeReader) return ''
  const [{ prometheusText }, { resourceMetrics }] = await Promise.all([import('./prometheus.ts'), scrapeReader.collect()])
  return prometheusText(resourceMetrics)
}

/** Export is on when an OTLP endpoint or an exporter is named, and the SDK is not disabled. */
export function exportRequested(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false
  const named = (value: string | undefined) => value !== undefined && value !== '' && value !== 'none'
  return (
    named(env.OTEL_EXPORTER_OTLP_ENDPOINT) ||
    named(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ||
    named(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) ||
    env.OTEL_TRACES_EXPORTER === 'otlp' ||
    env.OTEL_METRICS_EXPORTER === 'otlp'
  )
}

async function startExport(env: Record<string, string | undefined>): Promise<Telemetry> {
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, sdkMetrics, { OTLPMetricExporter }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ])
  // The exporters read OTEL_EXPORTER_OTLP_* themselves; we only name the service.
  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'passerelle' })
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] })
  trace.setGlobalTracerProvider(tracerProvider)
  scrapeReader ??= new (await import('./prometheus.ts')).PullMetricReader()
  const meterProvider = new sdkMetrics.MeterProvider({
    resource,
    readers: [new sdkMetrics.PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() as never }), scrapeReader],
  })
  metrics.setGlobalMeterProvider(meterProvider)
  return {
    exporting: true,
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()])
    },
  }
}
