/** Parsing of typed right-operand values. */

const durationPattern =
  /^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/

/**
 * ISO 8601 duration in milliseconds. Calendar units are fixed lengths (a month is 30 days, a year
 * 365 days): elapsed time under an agreement does not depend on the calendar.
 */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text)
  if (!match || text === 'P' || text.endsWith('T')) return undefined
  const [, y, mo, w, d, h, mi, s] = match.map((part) => (part === undefined ? 0 : Number(part)))
  const day = 86_400_000
  return y! * 365 * day + mo! * 30 * day + w! * 7 * day + d! * day + h! * 3_600_000 + mi! * 60_000 + s! * 1000
}

/** Milliseconds since the epoch of an xsd:dateTime / xsd:date string, or undefined. */
export function parseDateTime(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime()
  if (typeof value !== 'string') return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : ms
}

export function parseNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value)
    return Number.isFinite(n) ? n : undefined
  }
  return undefined
}
