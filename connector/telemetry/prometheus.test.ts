import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { describe, expect, it } from 'vitest'
import { PullMetricReader, prometheusText } from './prometheus.ts'

describe('the Prometheus text format', () => {
  it('writes counters, gauges and cumulative histogram buckets with escaped labels and unit suffixes', async () => {
    const reader = new PullMetricReader()
    const meter = new MeterProvider({ readers: [reader] }).getMeter('test')
    meter.createCounter('passerelle.refusals', { description: 'Requests refused' }).add(2, { door: 'negotiation', reason: 'say "no"\\\n' })
    const histogram = meter.createHistogram('passerelle.decision.duration', { unit: 's', advice: { explicitBucketBoundaries: [0.01, 0.1] } })
    for (const value of [0.005, 0.05, 0.05, 3]) histogram.record(value, { door: 'negotiation' })
    meter.createObservableGauge('passerelle.outbox.backlog').addCallback((result) => result.observe(7))
    const text = prometheusText((await reader.collect()).resourceMetrics)
    expect(text).toContain('# HELP passerelle_refusals_total Requests refused\n# TYPE passerelle_refusals_total counter')
    expect(text).toContain('passerelle_refusals_total{door="negotiation",reason="say \\"no\\"\\\\\\n"} 2')
    expect(text).toContain('# TYPE passerelle_decision_duration_seconds histogram')
    expect(text).toContain('passerelle_decision_duration_seconds_bucket{door="negotiation",le="0.01"} 1')
    expect(text).toContain('passerelle_decision_duration_seconds_bucket{door="negotiation",le="0.1"} 3')
    expect(text).toContain('passerelle_decision_duration_seconds_bucket{door="negotiation",le="+Inf"} 4')
    expect(text).toContain('passerelle_decision_duration_seconds_count{door="negotiation"} 4')
    expect(text).toContain('# TYPE passerelle_outbox_backlog gauge\npasserelle_outbox_backlog 7')
  })
})
