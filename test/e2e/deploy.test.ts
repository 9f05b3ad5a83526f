import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'

/**
 * The files of deploy/ (Dockerfile, compose.yaml, systemd unit) as deploy/check.js checks them:
 * built and run in Docker where a daemon runs, their steps run on this host otherwise.
 */
describe('deploy/', () => {
  it('passes deploy/check.js: the unit verifies, compose is hardened, the image steps run and answer the health check', async () => {
    const child = spawn(process.execPath, [fromRoot('deploy/check.js')], { cwd: fromRoot(), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code, output).toBe(0)
    expect(output).toContain('deploy/: all checks passed')
  }, 240_000)
})
