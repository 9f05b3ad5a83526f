import { DataPointType, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'

/**
 * The Prometheus text format (version 0.0.4) over OpenTelemetry metrics: a reader that collects
 * when scraped, and the serializer. Names lose their dots and gain their unit (`passerelle.decision.duration` in s →
 * `passerelle_decision_duration_seconds`); monotonic sums are counters (`_total`), histograms cumulative buckets.
 */
export class PullMetricReader extends MetricReader {
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([^a-zA-Z_:])/, '_$1')
const labelName = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([^a-zA-Z_])/, '_$1')
const escapeLabel = (value: unknown) => String(value).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const number = (value: number) => (Number.isNaN(value) ? 'NaN' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value))

function labels(attributes: Record<string, unknown>, extra: Record<string, string> = {}) {
  const all = { ...Object.fromEntries(Object.entries(attributes).map(([k, v]) => [labelName(k), v])), ...extra }
  const keys = Object.keys(all)
  return keys.length ? `{${keys.map((k) => `${k}="${escapeLabel(all[k])}"`).join(',')}}` : ''
}

const unitSuffixes: Record<string, string> = { s: '_seconds', ms: '_milliseconds', By: '_bytes' }

export function prometheusText(resourceMetrics: ResourceMetrics): string {
  const lines: string[] = []
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const { descriptor } = metric
      let name = metricName(descriptor.name)
      // Units become suffixes, as the OpenTelemetry Prometheus exporter names them.
      const suffix = unitSuffixes[descriptor.unit]
      if (suffix && !name.endsWith(suffix)) name = `${name}${suffix}`
      const help = descriptor.description ? `# HELP ${name} ${escapeHelp(descriptor.description)}` : undefined
      if (metric.dataPointType === DataPointType.SUM && metric.isMonotonic) {
        if (!name.endsWith('_total')) name = `${name}_total`
        if (help) lines.push(help.replace(/^# HELP \S+/, `# HELP ${name}`))
        lines.push(`# TYPE ${name} counter`)
        for (const point of metric.dataPoints) lines.push(`${name}${labels(point.attributes)} ${number(point.value as number)}`)
      } else if (metric.dataPointType === DataPointType.SUM || metric.dataPointType === DataPointType.GAUGE) {
        if (help) lines.push(help)
        lines.push(`# TYPE ${name} gauge`)
        for (const point of metric.dataPoints) lines.push(`${name}${labels(point.attributes)} ${number(point.value as number)}`)
      } else if (metric.dataPointType === DataPointType.HISTOGRAM) {
        if (help) lines.push(help)
        lines.push(`# TYPE ${name} histogram`)
        for (const point of metric.dataPoints) {
          const { buckets, sum, count } = point.value
          let cumulative = 0
          buckets.boundaries.forEach((boundary, i) => {
            cumulative += buckets.counts[i] ?? 0
            lines.push(`${name}_bucket${labels(point.attributes, { le: number(boundary) })} ${cumulative}`)
          })
          lines.push(`${name}_bucket${labels(point.attributes, { le: '+Inf' })} ${count}`)
          lines.push(`${name}_sum${labels(point.attributes)} ${number(sum ?? 0)}`)
          lines.push(`${name}_count${labels(point.attributes)} ${count}`)
        }
      }
    }
  }
  return `${lines.join('\n')}\n`
}
