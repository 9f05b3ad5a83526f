import { readFileSync } from 'node:fs'
import { absolute, ConfigError, type Config } from '../config/config.ts'
import type { Clock } from '../clock.ts'
import type { IdSource } from '../ids.ts'
import { PasserelleError } from '../errors.ts'
import { egressPolicy } from '../http/egress.ts'
import type { PeerClient } from '../http/peer-client.ts'
import type { Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { readCredentialJwt } from './credentials.ts'
import { createDcp, type Dcp } from './dcp.ts'
import { buildDidDocument } from './did-document.ts'
import { createDidResolver, type DidDocument, type DidResolver } from './did-resolver.ts'
import { didWebForUrl } from './did-web.ts'
import { identityRepository, type HeldCredentialRow, type IdentityRepository } from './identity-repository.ts'
import { loadRotatingKeyRing, type ScheduledKey } from './key-schedule.ts'
import type { KeyRing } from './keys.ts'
import { limitedHttp, limitedHttpOver, type LimitedHttp } from './limited-http.ts'
import { createStaticIdentity } from './static-identity.ts'
import { createStatusListChecker } from './status-list.ts'
import type { Authenticator, TokenIssuer } from './types.ts'

/** Where our credential service lives, below the public URL. */
export const credentialServicePath = '/dcp'

/** What the rest of the connector holds of identity (on `ctx.identity`). */
export interface Identity {
  mode: 'dcp' | 'static'
  /** Our participant id (a DID with DCP). */
  participantId: string
  authenticator: Authenticator
  tokenIssuer: TokenIssuer
  /** Our DID document (DCP mode only), with the keys published now. */
  readonly didDocument: DidDocument | undefined
  /** Our keys (DCP mode only): which signs, which are published; they follow the key schedule. */
  keys?: KeyRing & { scheduled?(): ScheduledKey[] }
  resolver: DidResolver
  /** DCP holder and verifier internals (DCP mode only). */
  dcp: Dcp | undefined
  credentials: HeldCredentials
}

export interface HeldCredentials {
  list(): Promise<HeldCredentialSummary[]>
  /** Validates and stores a VC JWT about this participant; answers its summary. */
  add(jwt: string): Promise<HeldCredentialSummary>
  remove(id: string): Promise<void>
}

export interface HeldCredentialSummary {
  id: string
  types: string[]
  issuer: string
  subject: string
  expiresAt: string | null
  createdAt: string
}

export interface IdentityDeps {
  config: Config
  store: Store
  clock: Clock
  ids: IdSource
  logger: Logger
  peers?: PeerClient
}

export interface IdentityOptions {
  env?: Record<string, string | undefined>
  /** Replaces the HTTP used for DID documents and credential services (tests). */
  http?: LimitedHttp
  resolver?: DidResolver
  /** Replaces key loading (tests, benchmarks). */
  keys?: KeyRing
}

/** Builds the configured identity: loads the keys (a bad key file stops start-up with one line). */
export async function createIdentity(deps: IdentityDeps, options: IdentityOptions = {}): Promise<Identity> {
  const { config, clock, ids, logger } = deps
  const settings = config.identity
  const http = options.http ?? (deps.peers ? limitedHttpOver(deps.peers) : limitedHttp)
  const egress = egressPolicy(config.egress)
  const resolver =
    options.resolver ??
    createDidResolver({
      clock,
      http,
      logger,
      allowInsecureLoopback: settings.allowInsecureLoopback,
      allowHost: (host) => egress.allowsDidHost(host),
      refreshAfterMs: settings.didRefreshMs,
    })
  const repository = identityRepository(deps.store)
  const participantId = config.participant.id

  if (settings.mode === 'static') {
    const { authenticator, tokenIssuer } = createStaticIdentity(settings.staticTokens, participantId)
    return {
      mode: 'static',
      participantId,
      authenticator,
      tokenIssuer,
      didDocument: undefined,
      resolver,
      dcp: undefined,
      credentials: heldCredentials(repository, clock, ids, (jwt) => readCredentialJwt(jwt)),
    }
  }

  const keys =
    options.keys ??
    (await loadRotatingKeyRing({ root: config.root, keyFiles: settings.keyFiles, schedule: settings.keySchedule, env: options.env, clock, logger }))
  const fileCredentials = loadCredentialFiles(config, clock, logger)
  if (participantId.startsWith('did:web:') && participantId !== didWebForUrl(config.server.publicUrl)) {
    // Peers fetch our document from the host the DID names: it must be this server.
    logger.warn('identity: participant.id is not the did:web of server.publicUrl; peers may not find our DID document', {
      participantId,
      expected: didWebForUrl(config.server.publicUrl),
    })
  }
  const dcp = createDcp({
    did: participantId,
    keys,
    resolver,
    repository,
    clock,
    ids,
    logger,
    trustedIssuers: settings.trustedIssuers,
    dataSpaces: settings.dataSpaces,
    scopeAlias: settings.scopeAlias,
    keyRelationships: settings.keyRelationships,
    allowInsecureLoopback: settings.allowInsecureLoopback,
    http,
    fileCredentials,
    // Status lists are fetched like DID documents: through the peer client, under the egress policy.
    status: createStatusListChecker({
      http,
      resolver,
      clock,
      logger,
      ...settings.statusList,
      allowInsecureLoopback: settings.allowInsecureLoopback,
      keyRelationships: settings.keyRelationships,
    }),
  })
  return {
    mode: 'dcp',
    participantId,
    authenticator: dcp.authenticator,
    tokenIssuer: dcp.tokenIssuer,
    // Built when asked: the published keys change while we run (rotation).
    get didDocument() {
      return participantId.startsWith('did:web:')
        ? buildDidDocument({
            did: participantId,
            keys: keys.all,
            dspUrl: config.dspUrl,
            credentialServiceUrl: config.server.publicUrl + credentialServicePath,
          })
        : undefined
    },
    keys,
    resolver,
    dcp,
    credentials: heldCredentials(repository, clock, ids, (jwt) => dcp.checkHeldCredential(jwt), fileCredentials),
  }
}

/**
 * The context with its identity, for the runtime's start-up:
 * `const ctx = await withIdentity({ config, store, clock, ids, logger, peers })`.
 * Throws `ConfigError` (one line naming the key) for a missing, unprotected or malformed key file.
 */
export async function withIdentity<T extends IdentityDeps>(ctx: T, options: IdentityOptions = {}): Promise<T & { identity: Identity }> {
  return { ...ctx, identity: await createIdentity(ctx, options) }
}

function heldCredentials(
  repository: IdentityRepository,
  clock: Clock,
  ids: IdSource,
  check: (jwt: string) => ReturnType<typeof readCredentialJwt>,
  fromFiles: HeldCredentialRow[] = [],
): HeldCredentials {
  return {
    async list() {
      return [...fromFiles, ...(await repository.listCredentials())].map(summaryOf)
    },
    async add(jwt) {
      const summary = check(jwt)
      const row: HeldCredentialRow = {
        id: ids.next(),
        jwt,
        types: summary.types,
        issuer: summary.issuer,
        subject: summary.subject,
        expiresAt: summary.expiresAt ?? null,
        createdAt: clock.now().getTime(),
      }
      await repository.addCredential(row)
      return summaryOf(row)
    },
    async remove(id) {
      if (fromFiles.some((row) => row.id === id)) {
        throw new PasserelleError('conflict', `credential ${id} is held from a file: remove it from identity.credentialFiles`)
      }
      if (!(await repository.deleteCredential(id))) throw new PasserelleError('not_found', `no held credential ${id}`)
    },
  }
}

const summaryOf = (row: HeldCredentialRow): HeldCredentialSummary => ({
  id: row.id,
  types: row.types,
  issuer: row.issuer,
  subject: row.subject,
  expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt).toISOString(),
  createdAt: new Date(row.createdAt).toISOString(),
})

/**
 * The credentials of `identity.credentialFiles`. A file that is not a VC JWT stops start-up; one about
 * another participant or already expired is skipped with a warning (a copied seed folder keeps running).
 */
function loadCredentialFiles(config: Config, clock: Clock, logger: Logger): HeldCredentialRow[] {
  const rows: HeldCredentialRow[] = []
  for (const file of config.identity.credentialFiles) {
    const path = absolute(config.root, file)
    let jwt: string
    try {
      jwt = readFileSync(path, 'utf8').trim()
    } catch (error) {
      throw new ConfigError(`invalid configuration key identity.credentialFiles: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`)
    }
    let summary: ReturnType<typeof readCredentialJwt>
    try {
      summary = readCredentialJwt(jwt)
    } catch (error) {
      throw new ConfigError(`invalid configuration key identity.credentialFiles: ${path}: ${(error as Error).message}`)
    }
    if (summary.subject !== config.participant.id) {
      logger.warn('identity: credential file is about another participant; not held', { file: path, subject: summary.subject })
      continue
    }
    if (summary.expiresAt !== undefined && summary.expiresAt <= clock.now().getTime()) {
      logger.warn('identity: credential file has expired; not held', { file: path })
      continue
    }
    rows.push({
      id: `file:${file}`,
      jwt,
      types: summary.types,
      issuer: summary.issuer,
      subject: summary.subject,
      expiresAt: summary.expiresAt ?? null,
      createdAt: 0,
    })
  }
  return rows
}
