/**
 * One replica's outbox in a process of its own, for tests that stop or kill a replica: opens the
 * store at argv[2], delivers with the real peer client to the 127.0.0.1 port argv[3], and writes its
 * log and every `delivered` report as JSON lines on stdout. Lease and scan intervals come from
 * argv[4] (lease milliseconds).
 */
import { createDispatcher } from '../../connector/dispatch/dispatcher.ts'
import { peerSend } from '../../connector/dispatch/shared.ts'
import { systemClock } from '../../connector/context.ts'
import { egressPolicy } from '../../connector/http/egress.ts'
import { createPeerClient } from '../../connector/http/peer-client.ts'
import { openStore } from '../../connector/store/store.ts'
import { createLogger } from '../../connector/telemetry/logger.ts'

const [url, port, lease] = process.argv.slice(2)
const store = await openStore({ url: url!, poolSize: 2 })
const peers = createPeerClient({ egress: egressPolicy({ allow: [`127.0.0.1:${port}`] }) })
const logger = createLogger({ level: 'info' })
const dispatcher = createDispatcher({ store, clock: systemClock, logger, send: peerSend(peers), leaseMs: Number(lease), safetyScanMs: 100, timeoutMs: 60_000 })
dispatcher.handle('test', {
  delivered: async ({ item }) => logger.info('delivered', { id: item.id }),
  failed: async ({ item }) => logger.info('failed', { id: item.id }),
})
dispatcher.start()
logger.info('replica started')
