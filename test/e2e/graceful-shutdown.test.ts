import { Agent, request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { copyParticipant, startConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/**
 * SIGTERM under load, seen by clients that keep their connections alive (as load balancers and
 * peers do): every request gets its answer or finds the port closed before it is sent; none is cut
 * by a reset on a connection the server dropped under it.
 */
describe('graceful shutdown of a real process under keep-alive load', () => {
  let folder: ParticipantFolder
  afterAll(() => folder?.remove())

  it('answers every request sent on a kept-alive connection (the last ones with Connection: close), resets none, and exits 0', async () => {
    folder = await copyParticipant()
    const connector = await startConnectorProcess(folder, { env: { PASSERELLE_LOG_LEVEL: 'warn' } })
    const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000, pipelining: 1 })
    const answered: number[] = []
    let closedAnswers = 0
    const resets: string[] = []
    let stopping = false
    let afterStop = 0
    const client = async () => {
      for (;;) {
        try {
          const answer = await request(`${connector.url}/management/v1/participant`, {
            dispatcher: agent,
            headers: { authorization: `Bearer ${folder.managementKey}` },
          })
          await answer.body.text()
          answered.push(answer.statusCode)
          if (stopping) afterStop++
          if (answer.headers.connection === 'close') closedAnswers++
        } catch (error) {
          const code = (error as { code?: string }).code
          // The port is closed: the request was never sent. That is the clean end of this client.
          if (code === 'ECONNREFUSED') return
          resets.push(`${code}: ${(error as Error).message}`)
          return
        }
      }
    }
    const clients = Array.from({ length: 16 }, client)
    await new Promise((r) => setTimeout(r, 1500))
    stopping = true
    const exit = connector.stop('SIGTERM')
    await Promise.all(clients)
    expect(await exit).toBe(0)
    await agent.close()
    expect(resets).toEqual([])
    expect(answered.length).toBeGreaterThan(50)
    expect(new Set(answered)).toEqual(new Set([200]))
    // The connections open at the signal were told to close with the answers in flight.
    expect(afterStop).toBeGreaterThan(0)
    expect(closedAnswers).toBeGreaterThan(0)
  }, 120_000)
})
