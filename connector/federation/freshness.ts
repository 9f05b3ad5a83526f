import type { PeerStatus } from './peers.ts'

/**
 * How fresh what we hold from a peer is, in words: "crawled 3 min ago", or, for a peer whose crawls
 * fail, since when, with its last error and the age of the copy search still shows.
 */
export interface PeerFreshness {
  id: string
  name: string
  dspUrl: string
  status: PeerStatus['status']
  /** `fresh`: the last crawl worked; `failing`: the last one failed; `never`: not crawled yet. */
  state: 'fresh' | 'failing' | 'never'
  lastSuccessAt: string | null
  lastError: string | null
  /** The sentence printed under a search or by `passerelle federation peers`. */
  summary: string
}

/** "45 s ago", "3 min ago", "5 h ago", "2 days ago" (a future time, from a clock ahead of ours, is "just now"). */
export function ago(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (seconds < 5) return 'just now'
  if (seconds < 60) return `${seconds} s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)} h ago`
  return `${Math.floor(seconds / 86_400)} days ago`
}

export const peerName = (peer: Pick<PeerStatus, 'name' | 'participantId' | 'dspUrl'>) => peer.name ?? peer.participantId ?? peer.dspUrl

export function peerFreshness(peer: PeerStatus, now: number): PeerFreshness {
  const failing = peer.lastErrorAt !== null && (peer.lastSuccessAt === null || peer.stale)
  const state: PeerFreshness['state'] = failing ? 'failing' : peer.lastSuccessAt === null ? 'never' : 'fresh'
  const copy = peer.lastSuccessAt ? `search shows its copy from ${ago(peer.lastSuccessAt, now)}` : 'nothing from it is searchable yet'
  const attempts = peer.consecutiveFailures > 1 ? `, ${peer.consecutiveFailures} attempts` : ''
  const summary =
    state === 'failing'
      ? `failing since ${ago(peer.lastErrorAt!, now)}${attempts}: ${oneLine(peer.lastError ?? 'no error recorded')}; ${copy}`
      : state === 'never'
        ? 'not crawled yet'
        : `crawled ${ago(peer.lastSuccessAt!, now)}`
  return {
    id: peer.id,
    name: peerName(peer),
    dspUrl: peer.dspUrl,
    status: peer.status,
    state,
    lastSuccessAt: peer.lastSuccessAt,
    lastError: peer.lastError,
    summary: peer.status === 'paused' ? `${summary} (paused)` : summary,
  }
}

/** A peer's error text is the peer's bytes in part: one line, bounded, no control characters. */
const oneLine = (text: string) => {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return clean.length > 300 ? `${clean.slice(0, 299)}…` : clean
}
