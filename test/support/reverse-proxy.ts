import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from './processes.ts'

/**
 * A real reverse proxy (HAProxy) in front of several replicas of one participant, as an operator
 * runs them: round robin, replicas taken out while `/health/ready` fails, a request whose connection
 * was refused sent to another replica. Non-idempotent requests are never retried once they reached a
 * replica, exactly as in production, so a replica killed mid-request shows.
 */
export interface ReverseProxy {
  port: number
  url: string
  /** HAProxy's view of each replica (`UP`, `DOWN`…), from its stats socket. */
  states(): Promise<Record<string, string>>
  stop(): Promise<void>
}

export const haproxyAvailable = () => spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0

export async function startReverseProxy(options: { port: number; replicas: number[] }): Promise<ReverseProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-proxy-'))
  const socket = join(dir, 'stats.sock')
  const config = [
    'global',
    `  stats socket ${socket} level operator`,
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  retries 3',
    '  option redispatch',
    '  retry-on conn-failure empty-response',
    'frontend connector',
    `  bind 127.0.0.1:${options.port}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    '  option httpchk',
    // HTTP/1.1 with a Host header: Node's HTTP server refuses a request without one.
    '  http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host replica',
    '  http-check expect status 200',
    '  default-server inter 300ms fall 1 rise 1',
    ...options.replicas.map((port, i) => `  server replica${i + 1} 127.0.0.1:${port} check`),
    '',
  ].join('\n')
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, config)
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${options.port}`
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${output.join('')}`)
      const response = await fetch(`${url}/health/live`)
      return response.status === 200 ? true : undefined
    },
    15_000,
    100,
  ).catch((error: Error) => {
    child.kill('SIGKILL')
    throw new Error(`the reverse proxy did not come up: ${error.message}\n${output.join('')}`)
  })
  return {
    port: options.port,
    url,
    async states() {
      const { createConnection } = await import('node:net')
      const text = await new Promise<string>((resolve, reject) => {
        const connection = createConnection(socket)
        let data = ''
        connection.on('data', (chunk) => (data += chunk.toString('utf8')))
        connection.on('end', () => resolve(data))
        connection.on('error', reject)
        connection.write('show servers state replicas\n')
      })
      const states: Record<string, string> = {}
      for (const line of text.split('\n').slice(2)) {
        const fields = line.split(' ')
        // be_id be_name srv_id srv_name srv_addr srv_op_state …: 2 is running, 0 stopped.
        if (fields[3]) states[fields[3]] = fields[5] === '2' ? 'UP' : 'DOWN'
      }
      return states
    },
    async stop() {
      child.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
