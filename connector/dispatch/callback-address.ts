import { eq, sql } from 'drizzle-orm'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import { callbackRefusedMessage, checkUrl, type EgressPolicy } from '../http/egress.ts'
import type { DidDocument } from '../identity/did-resolver.ts'
import type { Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'

/**
 * Checks of the addresses a peer asks us to send to, made when its message arrives, before
 * anything is stored: a refused address is answered 400 and changes nothing. The peer client
 * checks again when it connects (a name may resolve differently by then).
 *
 * A callback address must obey the egress policy and, when the peer's DID document (a DSP service)
 * or the data space's registry names its DSP address, be on that address (scheme, host and port).
 * A push destination may be on another host (a data plane of its own) but obeys the same ranges.
 */

/** DID document service types that name a DSP address (ours, EDC's and the DSP's DID service types). */
const dspServiceTypes = new Set(['CatalogService', 'DataService', 'ProtocolEndpoint', 'DSPService'])

type Pids = { providerPid?: string | undefined; consumerPid?: string | undefined }

/** What the checks read: the peer client's policy, the registry (stored peers), DID documents. */
export interface AddressCheckDeps {
  egress: EgressPolicy
  store: Store
  logger: Logger
  identity?: Ctx['identity']
}

export const addressCheckDeps = (ctx: Ctx): AddressCheckDeps => ({ egress: ctx.peers.egress, store: ctx.store, logger: ctx.logger, identity: ctx.identity })

export async function assertCallbackAllowed(ctx: AddressCheckDeps, input: { requester: string; url: string; pids: Pids }): Promise<void> {
  const detail = (await rangeRefusal(ctx, input.url)) ?? (await addressMismatch(ctx, input.requester, input.url))
  if (!detail) return
  ctx.logger.warn('egress: callback address refused', { requester: input.requester, callbackAddress: input.url, detail })
  throw new PasserelleError('bad_request', callbackRefusedMessage, input.pids)
}

export const pushDestinationRefusedMessage = 'the push destination is not allowed'

export async function assertPushDestinationAllowed(ctx: AddressCheckDeps, input: { requester: string; url: string; pids: Pids }): Promise<void> {
  const detail = await rangeRefusal(ctx, input.url)
  if (!detail) return
  ctx.logger.warn('egress: push destination refused', { requester: input.requester, endpoint: input.url, detail })
  throw new PasserelleError('bad_request', pushDestinationRefusedMessage, input.pids)
}

async function rangeRefusal(ctx: AddressCheckDeps, url: string): Promise<string | undefined> {
  const verdict = await checkUrl(ctx.egress, url)
  return verdict.allowed ? undefined : verdict.detail
}

/** Why the callback is not one of the DSP addresses known for the requester (none known: no objection). */
async function addressMismatch(ctx: AddressCheckDeps, requester: string, url: string): Promise<string | undefined> {
  const known = await knownDspOrigins(ctx, requester)
  if (known.size === 0) return undefined
  const origin = new URL(url).origin
  if (known.has(origin)) return undefined
  return `${origin} is not the DSP address of ${requester} (${[...known].join(', ')})`
}

async function knownDspOrigins(ctx: AddressCheckDeps, requester: string): Promise<Set<string>> {
  const origins = new Set<string>()
  const add = (text: unknown) => {
    if (typeof text !== 'string') return
    try {
      origins.add(new URL(text).origin)
    } catch {
      // a malformed entry names nothing
    }
  }
  // The document was resolved (and cached) when the requester's token was verified.
  if (ctx.identity?.mode === 'dcp' && requester.startsWith('did:web:')) {
    const document = await ctx.identity.resolver.resolve(requester).catch(() => undefined)
    for (const endpoint of dspEndpoints(document)) add(endpoint)
  }
  for (const row of await registeredAddresses(ctx.store).execute({ did: requester })) add(row.dspUrl)
  return origins
}

// Every request that names a callback reads the registry's address for its requester: prepared once per store.
const registered = new WeakMap<Store, ReturnType<typeof prepareRegisteredAddresses>>()
const prepareRegisteredAddresses = (store: Store) => {
  const peers = store.tables.federationPeers
  return store.db
    .select({ dspUrl: peers.dspUrl })
    .from(peers)
    .where(eq(peers.did, sql.placeholder('did')))
    .prepare()
}
function registeredAddresses(store: Store) {
  let statement = registered.get(store)
  if (!statement) registered.set(store, (statement = prepareRegisteredAddresses(store)))
  return statement
}

function dspEndpoints(document: DidDocument | undefined): unknown[] {
  const endpoints: unknown[] = []
  for (const service of document?.service ?? []) {
    const types = Array.isArray(service.type) ? service.type : [service.type]
    if (types.some((type) => dspServiceTypes.has(type))) endpoints.push(service.serviceEndpoint)
  }
  return endpoints
}

/** A transfer request's addresses: its callback, and for a push, where the data goes. */
export async function assertTransferAddresses(
  ctx: AddressCheckDeps,
  input: { requester: string; callbackAddress: string; pushEndpoint?: string | undefined; pids: Pids },
) {
  await assertCallbackAllowed(ctx, { requester: input.requester, url: input.callbackAddress, pids: input.pids })
  if (input.pushEndpoint !== undefined) await assertPushDestinationAllowed(ctx, { requester: input.requester, url: input.pushEndpoint, pids: input.pids })
}
