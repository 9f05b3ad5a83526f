import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { loadPolicies } from '../../policies/index.ts'
import { copyParticipant, freePort, management, startConnectorProcess, until, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'
import { haproxyAvailable, startReverseProxy, type ReverseProxy } from '../support/reverse-proxy.ts'
import { postgresBehindProxy, type TcpProxy } from '../support/tcp-proxy.ts'

/**
 * Three replicas of one provider on one PostgreSQL, behind a real reverse proxy (HAProxy), as an
 * operator runs them. While a consumer negotiates, replicas are killed with SIGKILL at random and
 * started again, and the database is out of reach for a while (a TCP proxy in front of it is cut).
 * Afterwards every process must be terminal, no agreement lost, no message applied twice, and both
 * sides must agree on every process.
 *
 * `PASSERELLE_FAULTS_LONG=1` (the `test:faults` script) runs more negotiations and a 20 s outage.
 */
const long = process.env.PASSERELLE_FAULTS_LONG === '1'
const negotiations = long ? 60 : 30
const outageMs = long ? 20_000 : 4_000
const arctic = 'urn:uuid:0f3cee7e-e077-4be0-9365-3a791567f70e' // open-with-attribution

const cleanups: Array<() => unknown> = []
let provider: ParticipantFolder
let consumer: ParticipantFolder
let proxy: ReverseProxy
let database: TcpProxy
let databaseUrl: string
const replicaPorts: number[] = []
const replicas: Array<ConnectorProcess | undefined> = []
let offer: Record<string, unknown>

const startReplica = async (index: number) => {
  const port = replicaPorts[index]!
  replicas[index] = await startConnectorProcess(
    { ...provider, port, url: `http://127.0.0.1:${port}` },
    {
      env: {
        PASSERELLE_PORT: String(port),
        PASSERELLE_PUBLIC_URL: provider.url,
        PASSERELLE_DATABASE_URL: databaseUrl,
        PASSERELLE_LOG_LEVEL: 'warn',
      },
      timeout: 30_000,
    },
  )
}

beforeAll(async () => {
  offer = (await loadPolicies(fromRoot('seeds/policies'))).policies.get('open-with-attribution')!.odrl as Record<string, unknown>
  const [proxyPort, consumerPort] = [await freePort(), await freePort()]
  for (let i = 0; i < 3; i++) replicaPorts.push(await freePort())
  const did = (port: number) => `did:web:127.0.0.1%3A${port}`
  const identity = { mode: 'static', staticTokens: { 'provider-token': did(proxyPort), 'consumer-token': did(consumerPort) } }
  const behindProxy = await postgresBehindProxy()
  cleanups.push(behindProxy.close)
  database = behindProxy.proxy
  databaseUrl = behindProxy.url
  provider = await copyParticipant({ port: proxyPort, config: { identity } })
  consumer = await copyParticipant({ port: consumerPort, config: { identity } })
  cleanups.push(provider.remove, consumer.remove)
  // One after the other: the first applies the migrations.
  for (let i = 0; i < replicaPorts.length; i++) await startReplica(i)
  cleanups.push(() => Promise.all(replicas.map((replica) => replica?.stop('SIGKILL'))))
  proxy = await startReverseProxy({ port: proxyPort, replicas: replicaPorts })
  cleanups.push(() => proxy.stop())
  const consumerProcess = await startConnectorProcess(consumer, { env: { PASSERELLE_LOG_LEVEL: 'warn' } })
  cleanups.push(() => consumerProcess.stop('SIGKILL'))
}, 120_000)
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

type View = {
  id: string
  state: string
  consumerPid: string
  agreementId?: string | null
  timeline: Array<{ kind: string; direction: string; fromState: string | null; toState: string }>
}

/** Transitions taken on an inbound message more than once: a repeated message applied twice. */
const appliedTwice = (view: View) => {
  const seen = new Set<string>()
  let twice = 0
  for (const entry of view.timeline) {
    if (entry.direction !== 'inbound' || entry.fromState === entry.toState) continue
    const key = `${entry.kind}→${entry.toState}`
    if (seen.has(key)) twice++
    seen.add(key)
  }
  return twice
}

describe.skipIf(!haproxyAvailable())('three provider replicas on one PostgreSQL behind a reverse proxy', () => {
  it(
    `finish ${negotiations} negotiations through random SIGKILLs and a database outage: none hung, lost, applied twice or inconsistent`,
    async () => {
      let chaos = true
      let kills = 0
      const killer = (async () => {
        while (chaos) {
          await new Promise((r) => setTimeout(r, 700 + Math.random() * 800))
          if (!chaos) break
          const index = Math.floor(Math.random() * replicas.length)
          await replicas[index]?.stop('SIGKILL')
          kills++
          await new Promise((r) => setTimeout(r, 300 + Math.random() * 700))
          // While the database is out of reach a replica cannot start (migrations): try until it can.
          await until(
            async () => {
              await startReplica(index)
              return true
            },
            120_000,
            500,
          )
        }
      })()
      const ids: string[] = []
      const start = (count: number) =>
        Promise.all(
          Array.from({ length: count }, async () => {
            const started = await management(consumer, 'POST', '/negotiations', {
              peerUrl: `${provider.url}/dsp/2025-1`,
              datasetId: arctic,
              peerId: provider.did,
              offer,
            })
            expect(started.status, JSON.stringify(started.body)).toBe(201)
            ids.push(started.body.id)
          }),
        )
      // A third before the outage, a third during it, a third after it, replicas dying all along.
      const third = negotiations / 3
      await start(third)
      await new Promise((r) => setTimeout(r, 2000))
      database.cut()
      await start(third)
      await new Promise((r) => setTimeout(r, outageMs))
      database.restore()
      await start(third)
      await new Promise((r) => setTimeout(r, long ? 20_000 : 6000))
      chaos = false
      await killer
      expect(kills).toBeGreaterThan(0)

      // Bounded: every process terminal on the consumer side.
      const terminal = (state: string) => state === 'FINALIZED' || state === 'TERMINATED'
      const views = await until(
        async () => {
          const all = await Promise.all(ids.map(async (id) => (await management(consumer, 'GET', `/negotiations/${id}`)).body as View))
          return all.every((view) => terminal(view.state)) ? all : undefined
        },
        long ? 300_000 : 120_000,
        1000,
      ).catch(async () => Promise.all(ids.map(async (id) => (await management(consumer, 'GET', `/negotiations/${id}`)).body as View)))
      const hung = views.filter((view) => !terminal(view.state))
      const lost = views.filter((view) => view.state === 'TERMINATED')
      // Through the proxy, as a person would look: any replica that is ready answers.
      const read = (path: string) =>
        until(
          async () => {
            const answer = await management(provider, 'GET', path)
            return answer.status === 200 ? answer.body : undefined
          },
          60_000,
          250,
        ).catch(async (error: Error) => {
          const alive = replicas.map((replica) => (replica && replica.child.exitCode === null && replica.child.signalCode === null ? 'alive' : 'gone'))
          throw new Error(
            `${error.message}: ${path} through the proxy; replicas ${alive.join(', ')}; proxy sees ${JSON.stringify(await proxy.states())}\n${replicas.map((r) => r?.output.slice(-5).join('\n')).join('\n--\n')}`,
          )
        })
      const providerList = (await read('/negotiations?role=provider&limit=500')).items as View[]
      const providerViews: View[] = []
      for (const item of providerList.filter((item) => ids.includes(item.consumerPid))) providerViews.push(await read(`/negotiations/${item.id}`))
      const byConsumerPid = new Map(providerViews.map((view) => [view.consumerPid, view]))
      const inconsistent = views.filter((view) => byConsumerPid.get(view.id)?.state !== view.state)
      const twice = [...views, ...providerViews].reduce((sum, view) => sum + appliedTwice(view), 0)
      const report = { negotiations: ids.length, kills, hung: hung.length, lost: lost.length, inconsistent: inconsistent.length, appliedTwice: twice }
      console.log('replicas under faults:', JSON.stringify(report))
      expect(report).toEqual({ negotiations, kills, hung: 0, lost: 0, inconsistent: 0, appliedTwice: 0 })
    },
    long ? 600_000 : 300_000,
  )
})
