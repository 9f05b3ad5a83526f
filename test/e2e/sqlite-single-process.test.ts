import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { copyParticipant, freePort, spawnCli, startConnectorProcess, type ConnectorProcess, type ParticipantFolder } from '../support/processes.ts'

/** One connector process per SQLite file: a second one would deliver every outbox message twice. */
describe('two connector processes on one SQLite file (real processes)', () => {
  let folder: ParticipantFolder
  const running: ConnectorProcess[] = []
  afterAll(async () => {
    for (const connector of running) await connector.stop('SIGKILL')
    folder?.remove()
  })

  it('the second one exits 2 with one line naming the file and the first process, and the first keeps serving', async () => {
    folder = await copyParticipant()
    const first = await startConnectorProcess(folder)
    running.push(first)
    const databaseFile = join(folder.dir, 'data', 'passerelle.db')
    expect(readFileSync(`${databaseFile}.lock`, 'utf8')).toBe(`${first.child.pid}\n`)

    const second = spawnCli({ args: ['start', '--config', folder.configFile, '--port', String(await freePort())] })
    expect(await second.exited).toBe(2)
    expect(second.output).toEqual([
      `passerelle start: cannot start: the database file ${databaseFile} is in use by another connector process (pid ${first.child.pid}); stop it first (lock file ${databaseFile}.lock)`,
    ])
    expect((await fetch(`${first.url}/health/ready`)).status).toBe(200)
    expect(readFileSync(`${databaseFile}.lock`, 'utf8')).toBe(`${first.child.pid}\n`)
  })

  it('after a clean stop the file is free; after a SIGKILL the stale lock is taken over', async () => {
    expect(await running.pop()!.stop('SIGTERM')).toBe(0)
    const again = await startConnectorProcess(folder)
    expect(await again.stop('SIGKILL')).toBe('SIGKILL')
    const databaseFile = join(folder.dir, 'data', 'passerelle.db')
    expect(readFileSync(`${databaseFile}.lock`, 'utf8')).toBe(`${again.child.pid}\n`)
    const third = await startConnectorProcess(folder)
    running.push(third)
    expect(readFileSync(`${databaseFile}.lock`, 'utf8')).toBe(`${third.child.pid}\n`)
    expect((await fetch(`${third.url}/health/ready`)).status).toBe(200)
  })
})
