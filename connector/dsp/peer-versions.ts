import type { DspVersion } from '../config/config.ts'
import { PasserelleError } from '../errors.ts'
import { parseBoundedJson } from '../http/bounded-json.ts'
import type { PeerClient } from '../http/peer-client.ts'

/**
 * Which DSP version a message to a peer goes out in, and where. The peer's
 * `/.well-known/dspace-version` is read once per origin (cached) and:
 * - an address under a base the peer lists in a version we speak is spoken in that version (a
 *   callback address names the version its owner chose);
 * - any other address (the provider's DSP base as the user gave it, a base in a version we do not
 *   speak) goes to the peer's base of the highest version both sides speak;
 * - a peer whose document cannot be read is spoken to as addressed, in our preferred version;
 * - a peer that lists no version we speak is refused (the specification says to end the exchange).
 */
export interface VersionChoice {
  version: DspVersion
  url: string
}

export interface PeerVersions {
  resolve(url: string): Promise<VersionChoice>
}

export interface PeerVersionsOptions {
  /** How long a peer's document is kept (default 5 minutes; an unreadable one 30 s). */
  ttlMs?: number
  now?: () => number
}

interface Listed {
  version: string
  path: string
}

const maxOrigins = 1024
const documentBytes = 64 * 1024

export function peerVersions(peers: PeerClient, ours: readonly DspVersion[], options: PeerVersionsOptions = {}): PeerVersions {
  const ttl = options.ttlMs ?? 300_000
  const now = options.now ?? Date.now
  const cache = new Map<string, { until: number; listed: Promise<Listed[] | undefined> }>()
  const listedAt = (origin: string) => {
    const cached = cache.get(origin)
    if (cached && cached.until > now()) return cached.listed
    const listed = read(peers, origin)
    const entry = { until: now() + ttl, listed }
    cache.delete(origin)
    cache.set(origin, entry)
    if (cache.size > maxOrigins) cache.delete(cache.keys().next().value!)
    void listed.then((found) => {
      if (found === undefined) entry.until = Math.min(entry.until, now() + 30_000)
    })
    return listed
  }
  return {
    async resolve(url) {
      if (ours.length === 1 && ours[0] === '2025-1') return { version: '2025-1', url }
      const target = new URL(url)
      const split = /^(.*?)(\/(?:catalog|negotiations|transfers)(?:\/.*)?)$/.exec(target.pathname)
      const base = trim(split ? split[1]! : target.pathname)
      const rest = split ? split[2]! : ''
      const listed = await listedAt(target.origin)
      if (!listed) return { version: ours[0]!, url }
      const spoken = listed.filter((entry) => (ours as readonly string[]).includes(entry.version))
      const exact = spoken.find((entry) => trim(entry.path) === base)
      if (exact) return { version: exact.version as DspVersion, url }
      for (const version of ours) {
        const entry = spoken.find((e) => e.version === version)
        if (entry) return { version, url: `${target.origin}${trim(entry.path)}${rest}${target.search}` }
      }
      throw new PasserelleError(
        'peer_failed',
        `the peer at ${target.origin} speaks DSP ${[...new Set(listed.map((e) => e.version))].join(', ').slice(0, 200)}; this connector speaks ${ours.join(', ')}: no version in common`,
      )
    },
  }
}

const trim = (path: string) => path.replace(/\/+$/, '')

/** The peer's listed versions, with `2024/1` (EDC's spelling) read as `2024-1`; undefined when unreadable. */
async function read(peers: PeerClient, origin: string): Promise<Listed[] | undefined> {
  try {
    const response = await peers.request({ method: 'GET', url: `${origin}/.well-known/dspace-version`, timeout: 5_000, maxBytes: documentBytes })
    if (response.status !== 200) return undefined
    const document = parseBoundedJson(response.text, { maxBytes: documentBytes, what: 'the version document' }) as { protocolVersions?: unknown }
    if (!Array.isArray(document?.protocolVersions)) return undefined
    const listed = document.protocolVersions.slice(0, 64).flatMap((entry: unknown) => {
      const e = entry as { version?: unknown; path?: unknown }
      if (typeof e?.version !== 'string' || typeof e.path !== 'string' || !e.path.startsWith('/') || e.path.length > 512) return []
      return [{ version: e.version.slice(0, 64).replace('/', '-'), path: e.path }]
    })
    // A document with no usable entry tells us nothing: the peer is addressed as given.
    return listed.length > 0 ? listed : undefined
  } catch {
    return undefined
  }
}
