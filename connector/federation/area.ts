import type { Area } from '../area.ts'
import { startCrawler } from './crawler.ts'
import { federationConfigOf, refreshRegistry, syncConfiguredPeers, tokenIssuerOf } from './peers.ts'
import { federationRepository } from './repository.ts'
import { federationRoutes } from './routes.ts'
import { crawlerOptionsFrom } from './settings.ts'

/**
 * The federated catalog: peers and search in the management API; in the background, the
 * configured peers (and the registry's) are crawled over DSP as this participant.
 */
export const federationArea: Area = {
  name: 'federation',
  routes: federationRoutes,
  async start(ctx) {
    const config = federationConfigOf(ctx)
    await syncConfiguredPeers({ ctx, input: config.peers })
    if (!config.enabled) return { stop: async () => {} }
    const options = crawlerOptionsFrom(config)
    const tokens = tokenIssuerOf(ctx)
    let registryDueAt = 0
    const crawler = startCrawler({
      repo: federationRepository(ctx.store),
      http: ctx.peers,
      clock: ctx.clock,
      logger: ctx.logger.child({ area: 'federation' }),
      options,
      // The audience is the configured DID, or the one derived from the URL: never the participant id a
      // peer claims in its catalog, or a hostile host could collect tokens minted for someone else.
      authorization: async (peer) => tokens?.authorizationFor({ participantId: peer.did ?? undefined, dspUrl: peer.dspUrl }),
      async beforeTick() {
        const now = ctx.clock.now().getTime()
        if (!config.registryUrl || now < registryDueAt) return
        registryDueAt = now + options.intervalMs
        await refreshRegistry({ ctx, input: { registryUrl: config.registryUrl } })
      },
    })
    return { stop: () => crawler.stop() }
  },
}
