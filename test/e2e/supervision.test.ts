import { spawn } from 'node:child_process'
import { createConnection } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { copyParticipant, type ParticipantFolder, until } from '../support/processes.ts'

/**
 * A supervisor stops what it started by signalling the PID it knows. When that PID is npm's (an
 * operator who wrote `npm start` or `npm exec passerelle start` in a unit file), the connector
 * must stop too: nothing may keep running and hold the port.
 */
describe('stopping the connector through the npm wrapper that started it', () => {
  let folder: ParticipantFolder | undefined
  const groups: number[] = []
  afterEach(() => {
    for (const group of groups.splice(0)) {
      try {
        process.kill(-group, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    folder?.remove()
  })

  const portFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      socket.once('connect', () => {
        socket.destroy()
        resolve(false)
      })
      socket.once('error', () => resolve(true))
    })

  const runWrapped = async (npmArgs: string[]) => {
    folder = await copyParticipant()
    // npm's own group: only npm's PID is signalled below; the group is there to clean up after a failure.
    const npm = spawn('npm', npmArgs, {
      cwd: fromRoot(),
      env: { ...process.env, PASSERELLE_CONFIG: folder.configFile, PASSERELLE_LOG_LEVEL: 'warn', OTEL_SDK_DISABLED: 'true' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    groups.push(npm.pid!)
    const output: string[] = []
    npm.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
    npm.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
    const npmExited = new Promise((resolve) => npm.once('exit', resolve))
    const url = folder.url
    await until(async () => ((await fetch(`${url}/health`)).status === 200 ? true : undefined), 30_000)
    process.kill(npm.pid!, 'SIGTERM')
    await npmExited
    await until(async () => ((await portFree(folder!.port)) ? true : undefined), 20_000)
    return output.join('')
  }

  it('npm start: SIGTERM to npm stops the connector (the start script execs node) and frees its port', async () => {
    // --ignore-scripts: the test run built dist/ already; `prestart` would build it again.
    const output = await runWrapped(['start', '--ignore-scripts'])
    expect(output).toContain('SIGTERM received, stopping')
  }, 120_000)

  it('npm exec: SIGTERM to npm stops the connector (it notices npm is gone) and frees its port', async () => {
    const output = await runWrapped(['exec', '--offline', '--', 'node', fromRoot('dist/passerelle.js'), 'start'])
    expect(output).toContain('the npm process that started it exited, stopping')
  }, 120_000)
})
