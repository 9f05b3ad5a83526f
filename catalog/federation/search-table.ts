import type { SearchPage } from './search-hit.ts'

/**
 * A search page as a plain-text table for a terminal: peer, dataset, title and the offer's terms
 * in plain language. Long cells are cut with an ellipsis so rows stay on one line.
 */
export function formatSearchTable(page: SearchPage, options: { width?: number } = {}): string {
  const total = page.totalExact ? String(page.total) : `more than ${page.total}`
  if (page.hits.length === 0) return page.total === 0 ? 'No dataset found.' : `No more results (${total} in all).`
  const width = Math.max(80, options.width ?? 160)
  const rows = page.hits.map((hit, i) => [
    String(page.offset + i + 1),
    (hit.stale ? '(stale) ' : '') + (hit.peer.name ?? hit.peer.participantId ?? hit.peer.dspUrl),
    hit.datasetId,
    hit.title,
    hit.offers.length === 0
      ? ''
      : hit.offers[0]!.summary + (hit.offers.length > 1 ? ` (+${hit.offers.length - 1} more offer${hit.offers.length > 2 ? 's' : ''})` : ''),
  ])
  const header = ['#', 'PEER', 'DATASET', 'TITLE', 'TERMS']
  // Fixed shares of the width for peer and title; dataset ids are never cut (they are what one
  // copies to negotiate); the terms get what is left.
  const caps = [4, Math.floor(width * 0.16), 120, Math.floor(width * 0.28)]
  const widths = header.slice(0, 4).map((h, c) => Math.min(caps[c]!, Math.max(h.length, ...rows.map((r) => [...r[c]!].length))))
  const last = Math.max(10, width - widths.reduce((a, b) => a + b, 0) - 2 * widths.length)
  const cut = (text: string, n: number) => {
    const chars = [...text.replace(/\s+/g, ' ')]
    return chars.length <= n ? chars.join('') : `${chars.slice(0, n - 1).join('')}…`
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c < 4 ? cut(cell, widths[c]!).padEnd(widths[c]!) : cut(cell, last)))
      .join('  ')
      .trimEnd()
  const shown = `${page.offset + 1}–${page.offset + page.hits.length} of ${total}`
  const next = page.next ? ` Next page: --cursor ${page.next}` : ''
  return [line(header), ...rows.map(line), '', `${shown}. Use --hit N --json to print one hit for \`passerelle negotiate\`.${next}`].join('\n')
}
