import { z } from 'zod'
import { PasserelleError } from '../errors.ts'
import type { PeerClient } from '../http/peer-client.ts'

/** The parts of a DID document that name services. */
export interface ServiceDocument {
  service?: Array<{ id: string; type: string | string[]; serviceEndpoint: unknown }>
}

export interface DidResolverLike {
  resolve(did: string): Promise<ServiceDocument>
}

/**
 * A peer's DSP base URL from its DID document: a `DataService` entry names the DSP base; a
 * `CatalogService` entry names its catalog (`…/catalog`), below the DSP base.
 */
export function dspUrlFromDidDocument(document: ServiceDocument): string | null {
  const services = document.service ?? []
  const endpoint = (type: string) => {
    const s = services.find((x) => (Array.isArray(x.type) ? x.type.includes(type) : x.type === type))
    return typeof s?.serviceEndpoint === 'string' && /^https?:\/\//.test(s.serviceEndpoint) ? s.serviceEndpoint : null
  }
  const data = endpoint('DataService')
  if (data) return data.replace(/\/+$/, '')
  const catalog = endpoint('CatalogService')
  if (catalog) return catalog.replace(/\/+$/, '').replace(/\/catalog$/, '')
  return null
}

export async function resolveDspUrl(did: string, resolver: DidResolverLike | undefined): Promise<string> {
  if (!resolver) throw new PasserelleError('bad_request', 'DIDs cannot be resolved here: give the peer a dspUrl')
  let document: ServiceDocument
  try {
    document = await resolver.resolve(did)
  } catch (error) {
    throw new PasserelleError('bad_request', `cannot resolve ${did}: ${(error as Error).message}`)
  }
  const url = dspUrlFromDidDocument(document)
  if (!url) throw new PasserelleError('bad_request', `the DID document of ${did} names no DataService or CatalogService`)
  return url
}

/**
 * A data-space registry: `GET <registryUrl>` answers JSON
 * `{ "participants": [ { "participantId": "did:web:…", "name": "…", "dspUrl": "https://…/dsp/2025-1" } ] }`
 * where each participant has `dspUrl`, `participantId` (a DID to resolve), or both.
 */
export const RegistryDocument = z.object({
  participants: z
    .array(
      z
        .object({
          participantId: z.string().min(1).max(500).optional(),
          name: z.string().max(200).optional(),
          dspUrl: z.url({ protocol: /^https?$/ }).optional(),
        })
        .refine((p) => p.participantId !== undefined || p.dspUrl !== undefined, { message: 'a participant needs dspUrl or participantId' }),
    )
    .max(10_000),
})
export type RegistryDocument = z.infer<typeof RegistryDocument>

export async function fetchRegistry(http: PeerClient, url: string): Promise<RegistryDocument> {
  const response = await http.request({ method: 'GET', url, timeout: 10_000, maxBytes: 4 * 1024 * 1024 })
  if (response.status !== 200) throw new PasserelleError('peer_failed', `the registry answered ${response.status}`)
  const parsed = RegistryDocument.safeParse(response.json())
  if (!parsed.success) throw new PasserelleError('peer_failed', `the registry's answer is not a participant list: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}

/** A DSP base URL as we store it: no trailing slash, no query or fragment, no credentials. */
export function normaliseDspUrl(value: string): string {
  const url = new URL(value)
  if (url.username || url.password) throw new PasserelleError('bad_request', 'a peer URL must not carry credentials')
  url.hash = ''
  url.search = ''
  return url.toString().replace(/\/+$/, '')
}
