import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import type { Hono } from 'hono'
import type { Area } from '../areas.ts'
import { dspPath } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { createDataPlane, type DataPlane } from '../data-plane/data-plane.ts'
import { digestCache } from '../data-plane/sources.ts'
import { dataTokens, loadOrCreateTokenSecret, type DataTokens } from '../data-plane/tokens.ts'
import { dispatcherFor } from '../dispatch/shared.ts'
import { concealProcessesFromStrangers, dspErrorRenderer } from '../dsp/errors.ts'
import type { AppEnv } from '../http/env.ts'
import { startPolicyMonitor, type PolicyMonitor } from '../monitor/monitor.ts'
import { identityOf } from '../negotiation/identity.ts'
import { catalogServiceFor } from '../catalog/routes.ts'
import { catalogDistributions, enginePolicyUsage, storedAgreements } from './adapters.ts'
import { transferDspRoutes } from './dsp-routes.ts'
import { transferManagementRoutes, type ProviderOf } from './management-routes.ts'
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

export function transferArea(options: TransferAreaOptions = {}): Area & { runtimeFor(ctx: Ctx): TransferRuntime } {
  const runtimes = new WeakMap<Ctx, TransferRuntime>()
  const runtimeFor = (ctx: Ctx): TransferRuntime => {
    const existing = runtimes.get(ctx)
    if (existing) return existing
    const identity = identityOf(ctx)
    const dispatcher = dispatcherFor(ctx, { tokenIssuer: identity.tokenIssuer })
    const tck = tckProfileOf(ctx)
    // Agreements are evaluated with the stewards' operand registry (their registry.yaml included).
    const stored = options.agreements?.(ctx) ?? storedAgreements(ctx.store, async () => (await catalogServiceFor(ctx)).policies.registry)
    const agreements = tck ? { ...withTckAgreements(tck.agreements, stored), providerOf: stored.providerOf } : stored
    const usage = options.usage ?? enginePolicyUsage
    const logger = ctx.logger.child({ area: 'transfer' })
    const dataPlane = createDataPlane({
      store: ctx.store,
      clock: ctx.clock,
      ids: ctx.ids,
      logger,
      agreements,
      usage,
      sources: options.sources?.(ctx) ?? catalogDistributions(ctx),
      tokens: lazyTokens(ctx),
      digests: digestCache(),
      publicUrl: ctx.config.server.publicUrl,
      dataDir: ctx.config.dataDir,
    })
    const transferCtx: TransferCtx = {
      store: ctx.store,
      clock: ctx.clock,
      ids: ctx.ids,
      logger,
      self: { participantId: ctx.config.participant.id, dspUrl: ctx.config.dspUrl },
      agreements,
      usage,
      outbox: dispatcherOutbox(dispatcher),
      dataPlane: dataPlane.control,
      ...(options.scripts ?? tck?.scripts ? { scripts: (options.scripts ?? tck?.scripts)! } : {}),
      // After the current answer has gone out (the dispatcher also retries a peer that is not ready).
      later: (task) => void setTimeout(() => task().catch((error) => logger.warn('transfer follow-up failed', { error })), 5),
    }
    dispatcher.handle(transferTopic, transferDispatchHandler(transferCtx))
    const runtime = { ctx: transferCtx, dataPlane, agreements, ...(tck ? { tckPeerId: tck.tck } : {}) }
    runtimes.set(ctx, runtime)
    return runtime
  }

  let monitor: PolicyMonitor | undefined
  return {
    name: 'transfer',
    runtimeFor,
    routes({ root, dsp, management, openapi, errors }, ctx) {
      const rt = runtimeFor(ctx)
      const identity = identityOf(ctx)
      errors.register(`${dspPath}/transfers`, dspErrorRenderer('TransferError'), concealProcessesFromStrangers)
      dsp.route('/', transferDspRoutes({ ctx: rt.ctx, authenticator: identity.authenticator }) as unknown as Hono<AppEnv>)
      root.route('/', rt.dataPlane.routes as unknown as Hono<AppEnv>)
      management.route('/', transferManagementRoutes({ ctx: rt.ctx, agreements: rt.agreements, openapi }))
      if (options.tckTrigger || rt.tckPeerId) root.route('/', tckTransferTrigger({ ctx: rt.ctx, ...(rt.tckPeerId ? { peerId: rt.tckPeerId } : {}) }) as unknown as Hono<AppEnv>)
    },
    async start(ctx) {
      const rt = runtimeFor(ctx)
      dispatcherFor(ctx).start()
      await resumePushes(rt.ctx)
      monitor = startPolicyMonitor({ ctx: rt.ctx, intervalMs: options.monitorIntervalMs ?? ctx.config.monitor.intervalMs })
      return { stop: async () => void (await monitor?.stop()) }
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
  const { dispatches } = ctx.store.tables
  for (const t of started) {
    if (t.format !== 'HttpData-PUSH' || !t.dataAddress) continue
    const pending = await ctx.store.db
      .select({ id: dispatches.id })
      .from(dispatches)
      .where(and(eq(dispatches.processId, t.id), eq(dispatches.status, 'pending')))
      .limit(1)
    if (pending.length > 0) continue
    ctx.later(() => pushAndComplete(ctx, t))
  }
}


/** Data tokens whose secret is read from (or first written to) the store on first use. */
function lazyTokens(ctx: Ctx): DataTokens {
  let tokens: Promise<DataTokens> | undefined
  const get = () =>
    (tokens ??= loadOrCreateTokenSecret(ctx.store, ctx.clock).then((secret) => dataTokens({ secret, issuer: ctx.config.server.publicUrl, clock: ctx.clock, ids: ctx.ids })))
  return {
    issue: async (input) => (await get()).issue(input),
    verify: async (token, scope, verifyOptions) => (await get()).verify(token, scope, verifyOptions),
  }
}

/** The area as the connector runs it by default. */
export const transfer = transferArea()
