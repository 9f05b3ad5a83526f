import { answerGate } from '../process/answer-gate.ts'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Hono } from 'hono'
import type { Area } from '../area.ts'
import type { Ctx } from '../context.ts'
import { createDataPlane, type DataPlane } from './data-plane/data-plane.ts'
import { addressCheckDeps, assertTransferAddresses } from '../dispatch/callback-address.ts'
import { digestCache } from './data-plane/sources.ts'
import { s3Clients, s3Credentials, type S3Clients } from './data-plane/s3-client.ts'
import { dataTokens, loadOrCreateTokenSecret, type DataTokens } from './data-plane/tokens.ts'
import type { Dispatcher } from '../dispatch/dispatcher.ts'
import { registerDspErrors } from '../dsp/errors.ts'
import type { AppEnv } from '../http/env.ts'
import { startPolicyMonitor, type PolicyMonitor } from './monitor/monitor.ts'
import type { CatalogService } from '../catalog/catalog-service.ts'
import { identityOf } from '../negotiation/identity.ts'
import { agreementsOf, catalogDistributions, enginePolicyUsage } from './adapters.ts'
import { transferDspRoutes } from './dsp-routes.ts'
import { isPushFormat } from './messages.ts'
import { transferManagementRoutes, type ProviderOf } from './management-routes.ts'
import { obligationRoutes } from './obligation-routes.ts'
import type { AgreementLookup, DistributionSource, TransferScripts, UsagePolicy } from './ports.ts'
import { dispatcherOutbox, pushAndComplete, repo, transferDispatchHandler, transferTopic, type TransferCtx } from './service.ts'
import { tckParticipantId, tckTransferAgreements, tckTransferScripts, tckTransferTrigger, withTckAgreements } from './tck.ts'

/**
 * The transfer area: DSP endpoints under `<dspUrl>/transfers` (both roles), the data plane under
 * `/data/`, `/management/v1/transfers`, and the policy monitor. Collaborators can be replaced (the
 * TCK profile brings its agreements and scripts; tests bring doubles).
 */
export interface TransferAreaOptions {
  agreements?: (ctx: Ctx) => AgreementLookup & ProviderOf
  usage?: UsagePolicy
  sources?: (ctx: Ctx) => DistributionSource
  scripts?: TransferScripts
  /** Mounts `POST /tck/transfers` (TCK profile only). */
  tckTrigger?: boolean
  monitorIntervalMs?: number
}

export interface TransferRuntime {
  /** Set when the TCK profile runs: the participant id the TCK authenticates as. */
  tckPeerId?: string
  ctx: TransferCtx
  dataPlane: DataPlane
  agreements: AgreementLookup & ProviderOf
  /** Clients of S3-compatible storage, with their connection pools (closed when the area stops). */
  objects: S3Clients
}

/**
 * A participant folder holding `transfer/scripts.json` runs the TCK profile's transfer part: the
 * TCK's agreements (`transfer/agreements.json`), the scripted reactions, and `POST /tck/transfers`.
 */
function tckProfileOf(ctx: Ctx) {
  const scriptsFile = join(ctx.config.root, 'transfer', 'scripts.json')
  const agreementsFile = join(ctx.config.root, 'transfer', 'agreements.json')
  if (!existsSync(scriptsFile) || !existsSync(agreementsFile)) return undefined
  const tck = tckParticipantId(agreementsFile)
  return { scripts: tckTransferScripts(scriptsFile), agreements: tckTransferAgreements({ self: ctx.config.participant.id, tck }, agreementsFile), tck }
}

/** What the composition root hands the area: built once, shared with the other areas. */
export interface TransferParts {
  ctx: Ctx
  /** The connector's one outbox. */
  dispatcher: Dispatcher
  /** The catalog area's service: the datasets' distributions, the stewards' operand registry and policy ids. */
  catalog?: CatalogService
}

export function transferArea(parts: TransferParts, options: TransferAreaOptions = {}): Area & { runtime: TransferRuntime } {
  const { ctx, dispatcher, catalog } = parts
  const identity = identityOf(ctx, catalog)
  const runtime = ((): TransferRuntime => {
    const tck = tckProfileOf(ctx)
    // Agreements are evaluated with the stewards' operand registry (their registry.yaml included).
    const stored = options.agreements?.(ctx) ?? agreementsOf(ctx, catalog)
    const agreements = tck ? { ...withTckAgreements(tck.agreements, stored), providerOf: stored.providerOf } : stored
    const usage = options.usage ?? enginePolicyUsage
    const logger = ctx.logger.child({ area: 'transfer' })
    const objects = s3Clients(ctx.peers.egress)
    const dataPlane = createDataPlane({
      objects,
      store: ctx.store,
      clock: ctx.clock,
      ids: ctx.ids,
      audit: ctx.audit,
      logger,
      agreements,
      usage,
      sources: options.sources?.(ctx) ?? catalogDistributions(ctx, catalog),
      tokens: lazyTokens(ctx),
      digests: digestCache(),
      publicUrl: ctx.config.server.publicUrl,
      dataDir: ctx.config.dataDir,
      upload: (input) => ctx.peers.upload(input),
      // Upstream HTTP sources are read under the egress policy, like every other outbound call.
      upstream: (input) => ctx.peers.open(input),
      pushRetry: { windowMs: ctx.config.push.retryWindowMs, baseDelayMs: ctx.config.push.baseDelayMs, maxDelayMs: ctx.config.push.maxDelayMs },
    })
    const transferCtx: TransferCtx = {
      store: ctx.store,
      clock: ctx.clock,
      ids: ctx.ids,
      audit: ctx.audit,
      logger,
      self: { participantId: ctx.config.participant.id, dspUrl: ctx.config.dspUrl },
      agreements,
      usage,
      outbox: dispatcherOutbox(dispatcher),
      dataPlane: dataPlane.control,
      ...((options.scripts ?? tck?.scripts) ? { scripts: (options.scripts ?? tck?.scripts)! } : {}),
      // After the current answer has gone out (the dispatcher also retries a peer that is not ready).
      checkAddresses: (input) => assertTransferAddresses(addressCheckDeps(ctx), input),
      s3Credentials: (secret) => s3Credentials(secret, process.env),
      later: (task) => void setTimeout(() => task().catch((error) => logger.warn('transfer follow-up failed', { error })), 5),
      answers: answerGate(() => dispatcher.kick()),
    }
    dispatcher.handle(transferTopic, transferDispatchHandler(transferCtx))
    return { ctx: transferCtx, dataPlane, agreements, objects, ...(tck ? { tckPeerId: tck.tck } : {}) }
  })()

  let monitor: PolicyMonitor | undefined
  return {
    name: 'transfer',
    runtime,
    routes({ root, dsp, management, openapi, errors }) {
      const rt = runtime
      registerDspErrors(errors, 'TransferError')
      dsp.route('/', transferDspRoutes({ ctx: rt.ctx, authenticator: identity.authenticator }) as unknown as Hono<AppEnv>)
      root.route('/', rt.dataPlane.routes as unknown as Hono<AppEnv>)
      management.route('/', transferManagementRoutes({ ctx: rt.ctx, agreements: rt.agreements, peers: ctx.peers, openapi }))
      management.route('/', obligationRoutes({ ctx: rt.ctx, openapi }))
      if (options.tckTrigger || rt.tckPeerId)
        root.route('/', tckTransferTrigger({ ctx: rt.ctx, ...(rt.tckPeerId ? { peerId: rt.tckPeerId } : {}) }) as unknown as Hono<AppEnv>)
    },
    async start() {
      const rt = runtime
      // Agreements are read inside transactions with the catalog's policies: the composition root
      // loaded them before (loading reads the store, which must not happen while a transaction is held).
      dispatcher.start()
      await resumePushes(rt.ctx)
      const dcp = ctx.identity?.dcp
      monitor = startPolicyMonitor({
        ctx: rt.ctx,
        intervalMs: options.monitorIntervalMs ?? ctx.config.monitor.intervalMs,
        // Counterparties' credentials are checked again against their status lists: a revoked membership ends its transfers.
        ...(dcp ? { credentials: (participantId: string) => dcp.recheckPeer(participantId) } : {}),
      })
      return {
        stop: async () => {
          await monitor?.stop()
          rt.objects.close()
        },
      }
    },
  }
}

/**
 * Push transfers we provide that were STARTED when the process stopped: send them again (the
 * consumer overwrites). One whose start message is still in the outbox is left to it: the push
 * begins once that message is delivered.
 */
async function resumePushes(ctx: TransferCtx) {
  const started = await repo(ctx).list(ctx.store.db, { role: 'provider', state: 'STARTED', limit: 10_000 })
  for (const t of started) {
    if (!isPushFormat(t.format) || !t.dataAddress) continue
    if (await ctx.outbox.hasPending(ctx.store.db, t.id)) continue
    ctx.later(() => pushAndComplete(ctx, t))
  }
}

/** Data tokens whose secret is read from (or first written to) the store on first use. */
function lazyTokens(ctx: Ctx): DataTokens {
  let tokens: Promise<DataTokens> | undefined
  const get = () =>
    (tokens ??= loadOrCreateTokenSecret(ctx.store, ctx.clock).then((secret) =>
      dataTokens({ secret, issuer: ctx.config.server.publicUrl, clock: ctx.clock, ids: ctx.ids }),
    ))
  return {
    issue: async (input) => (await get()).issue(input),
    verify: async (token, scope, verifyOptions) => (await get()).verify(token, scope, verifyOptions),
  }
}
