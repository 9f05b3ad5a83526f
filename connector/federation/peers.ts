import { z } from 'zod'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { createStaticIdentity } from '../identity/static-identity.ts'
import type { TokenIssuer } from '../identity/types.ts'
import { fetchRegistry, normaliseDspUrl, resolveDspUrl, type DidResolverLike } from './peer-address.ts'
import { federationRepository, isStale, type PeerRow, type PeerSource } from './repository.ts'
import { defaultFederationConfig, type FederationConfig, type FederationPeerConfig } from './settings.ts'

/** What federation needs of identity: tokens for outbound requests, DID resolution for peers. */
interface IdentityLike {
  tokenIssuer: TokenIssuer
  resolver: DidResolverLike
}
export const identityOf = (ctx: Ctx): IdentityLike | undefined => ctx.identity

/** Who we are to peers: the identity on the context, else the configuration's static tokens (TCK, tests). */
export function tokenIssuerOf(ctx: Ctx): TokenIssuer | undefined {
  if (ctx.identity) return ctx.identity.tokenIssuer
  if (ctx.config.identity.mode === 'static') return createStaticIdentity(ctx.config.identity.staticTokens, ctx.config.participant.id).tokenIssuer
  return undefined
}
export const federationConfigOf = (ctx: Ctx): FederationConfig => (ctx.config as { federation?: FederationConfig }).federation ?? defaultFederationConfig

/** A peer as the management API shows it. */
export const PeerStatus = z.object({
  id: z.string(),
  name: z.string().nullable(),
  dspUrl: z.string(),
  did: z.string().nullable(),
  participantId: z.string().nullable(),
  source: z.enum(['config', 'api', 'registry']),
  status: z.enum(['active', 'paused']),
  /** The last crawl failed: search shows this peer's last good copy. */
  stale: z.boolean(),
  datasetCount: z.number().int(),
  rejectedCount: z.number().int(),
  lastAttemptAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  lastError: z.string().nullable(),
  consecutiveFailures: z.number().int(),
  lastDurationMs: z.number().int().nullable(),
  nextCrawlAt: z.string().nullable(),
  incremental: z.enum(['unknown', 'yes', 'no']),
  /** Whether the peer tags its catalog (ETag), so that an unchanged catalog costs one 304. */
  conditional: z.enum(['unknown', 'yes', 'no']),
  /**
   * Whether the next crawl asks the peer for its changes since our token (deletions included): a
   * Passerelle peer gives one. `changeFeedNote` says why it is not used, or was not the last time.
   */
  changeFeed: z.boolean(),
  changeFeedNote: z.string().nullable(),
})
export type PeerStatus = z.infer<typeof PeerStatus>

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export const peerStatus = (row: PeerRow): PeerStatus => ({
  id: row.id,
  name: row.name,
  dspUrl: row.dspUrl,
  did: row.did,
  participantId: row.participantId,
  source: row.source as PeerSource,
  status: row.paused ? 'paused' : 'active',
  stale: isStale(row),
  datasetCount: row.datasetCount,
  rejectedCount: row.rejectedCount,
  lastAttemptAt: iso(row.lastAttemptAt),
  lastSuccessAt: iso(row.lastSuccessAt),
  lastErrorAt: iso(row.lastErrorAt),
  lastError: row.lastError,
  consecutiveFailures: row.failures,
  lastDurationMs: row.lastDurationMs,
  nextCrawlAt: row.paused ? null : iso(row.nextCrawlAt),
  incremental: row.incremental as PeerStatus['incremental'],
  conditional: row.catalogEtag === null ? 'unknown' : row.catalogEtag === '' ? 'no' : 'yes',
  changeFeed: row.changeToken !== null,
  changeFeedNote: row.changeFeedNote,
})

export const AddPeerInput = z
  .object({
    dspUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional(),
    did: z
      .string()
      .regex(/^did:[a-z0-9]+:.+/, 'expected a DID (did:method:…)')
      .max(500)
      .optional(),
    name: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((p) => p.dspUrl !== undefined || p.did !== undefined, { message: 'give dspUrl or did' })
export type AddPeerInput = z.infer<typeof AddPeerInput>

/** Adds a peer by DSP URL or by DID (resolved to its DSP service). Conflict when already known. */
export async function addPeer({ ctx, input }: { ctx: Ctx; input: AddPeerInput & { source: PeerSource } }): Promise<{ peer: PeerRow; created: boolean }> {
  const dspUrl = normaliseDspUrl(input.dspUrl ?? (await resolveDspUrl(input.did!, identityOf(ctx)?.resolver)))
  return federationRepository(ctx.store).addPeer(
    { id: ctx.ids.next(), dspUrl, did: input.did ?? null, name: input.name ?? null, source: input.source },
    ctx.clock.now().getTime(),
  )
}

/** Adds the configured peers that are not known yet (a peer removed through the API comes back at restart). */
export async function syncConfiguredPeers({ ctx, input }: { ctx: Ctx; input: FederationPeerConfig[] }) {
  for (const peer of input) {
    try {
      await addPeer({ ctx, input: { ...peer, source: 'config' } })
    } catch (error) {
      ctx.logger.warn('federation: configured peer skipped', { peer: peer.dspUrl ?? peer.did, error })
    }
  }
}

/** A URL as a peer row holds it; one that could never be stored (credentials) stays as given. */
const storedForm = (url: string) => {
  try {
    return normaliseDspUrl(url)
  } catch {
    return url
  }
}

/**
 * Brings the peer list in step with the registry: adds the participants that are not known yet,
 * and removes, with everything held from them, the peers the registry brought and no longer lists
 * (by DID or DSP URL). Peers from the configuration or the API are never removed. A registry that
 * cannot be read or parsed changes nothing.
 */
export async function refreshRegistry({ ctx, input }: { ctx: Ctx; input: { registryUrl: string } }) {
  const registry = await fetchRegistry(ctx.peers, input.registryUrl)
  const repo = federationRepository(ctx.store)
  const listed = new Set<string>()
  for (const p of registry.participants) {
    if (p.participantId) listed.add(p.participantId)
    if (p.dspUrl) listed.add(storedForm(p.dspUrl))
  }
  let removed = 0
  for (const peer of await repo.listPeers()) {
    if (peer.source !== 'registry' || listed.has(peer.dspUrl) || (peer.did !== null && listed.has(peer.did))) continue
    if (await repo.removePeer(peer.id, { source: 'registry' })) {
      removed++
      ctx.logger.info('federation: peer left the registry, removed with its datasets', { peer: peer.id, dspUrl: peer.dspUrl })
    }
  }
  let added = 0
  for (const p of registry.participants) {
    if (p.participantId === ctx.config.participant.id) continue
    try {
      const did = p.participantId?.startsWith('did:') ? p.participantId : undefined
      if (!p.dspUrl && !did) continue
      const result = await addPeer({ ctx, input: { dspUrl: p.dspUrl, did, name: p.name, source: 'registry' } })
      if (result.created) added++
    } catch (error) {
      ctx.logger.warn('federation: registry participant skipped', { participant: p.participantId ?? p.dspUrl, error })
    }
  }
  return { listed: registry.participants.length, added, removed }
}

export async function requirePeer(ctx: Ctx, id: string): Promise<PeerRow> {
  const peer = await federationRepository(ctx.store).getPeer(id)
  if (!peer) throw new PasserelleError('not_found', `no peer ${id}`)
  return peer
}
