#!/usr/bin/env node
// Checks the deployment files of deploy/ on this host, with or without a container runtime:
//  - passerelle.service: `systemd-analyze verify` (when present) on a copy whose ExecStart names
//    this checkout's executable;
//  - compose.yaml: its hardening (read-only, unprivileged, no capabilities) and the database
//    dependency; `docker compose config` when the plugin is installed;
//  - Dockerfile: multi-stage, unprivileged, with a health check and an exec-form entry point; with a
//    running Docker daemon it is built and run read-only; otherwise its steps run on the host: the
//    package is packed and unpacked as the build stage does (the installed node_modules stand in for
//    `npm ci`/`npm prune`), made read-only, started with the runtime stage's environment, entry
//    point and command, probed with its HEALTHCHECK command, and stopped with SIGTERM (exit 0).
// Exit 0 when all checks pass; each failure is printed with what is wrong.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const deploy = join(root, 'deploy')
const failures = []
const fail = (what) => {
  failures.push(what)
  console.log(`FAIL  ${what}`)
}
const ok = (what) => console.log(`ok    ${what}`)
const has = (program, args = ['--version']) => spawnSync(program, args, { stdio: 'ignore' }).status === 0
const work = mkdtempSync(join(tmpdir(), 'passerelle-deploy-check-'))

function checkSystemdUnit() {
  const unit = readFileSync(join(deploy, 'passerelle.service'), 'utf8')
  for (const key of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=', 'CapabilityBoundingSet=', 'UMask=0077', 'KillSignal=SIGTERM'])
    if (!unit.includes(key)) fail(`passerelle.service: ${key} missing`)
  if (/ExecStart=.*\b(npm|npx)\b/.test(unit)) fail('passerelle.service: ExecStart runs npm or npx; systemd must start the connector itself')
  if (!has('systemd-analyze')) return ok('passerelle.service: hardening keys present (systemd-analyze not installed: not verified)')
  const copy = join(work, 'passerelle.service')
  writeFileSync(copy, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${join(root, 'bin', 'passerelle.js')}`))
  const run = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' })
  const problems = `${run.stdout}${run.stderr}`
    .split('\n')
    .filter((line) => line.includes('passerelle.service'))
    // The service user exists on the server it is installed on, not necessarily here.
    .filter((line) => !/User=|Group=|user .* does not exist/i.test(line))
  if (run.status !== 0 || problems.length) fail(`passerelle.service: systemd-analyze verify: ${problems.join(' | ') || `exit ${run.status}`}`)
  else ok('passerelle.service: systemd-analyze verify passes, hardening keys present')
}

function checkCompose() {
  const compose = parse(readFileSync(join(deploy, 'compose.yaml'), 'utf8'))
  const service = compose?.services?.passerelle
  const database = compose?.services?.postgres
  if (!service || !database) return fail('compose.yaml: services passerelle and postgres expected')
  if (service.read_only !== true) fail('compose.yaml: passerelle must run with read_only: true')
  if (!service.user || /^0(:|$)|^root/.test(String(service.user))) fail('compose.yaml: passerelle must run as an unprivileged user')
  if (!(service.cap_drop ?? []).includes('ALL')) fail('compose.yaml: passerelle must drop all capabilities')
  if (service.depends_on?.postgres?.condition !== 'service_healthy') fail('compose.yaml: passerelle must wait for a healthy postgres')
  if (!database.healthcheck) fail('compose.yaml: postgres needs a health check')
  if (!String(service.environment?.PASSERELLE_DATABASE_URL ?? '').startsWith('postgres://'))
    fail('compose.yaml: PASSERELLE_DATABASE_URL must name the postgres service')
  if (has('docker', ['compose', 'version'])) {
    const run = spawnSync('docker', ['compose', '-f', join(deploy, 'compose.yaml'), 'config', '-q'], {
      encoding: 'utf8',
      env: { ...process.env, POSTGRES_PASSWORD: 'check' },
    })
    if (run.status !== 0) fail(`compose.yaml: docker compose config: ${run.stderr.trim()}`)
  }
  if (!failures.some((f) => f.startsWith('compose.yaml'))) ok('compose.yaml: read-only, unprivileged, no capabilities, waits for a healthy PostgreSQL')
}

/** The Dockerfile as instructions (continuation lines joined), grouped by stage. */
function dockerfileStages() {
  const text = readFileSync(join(deploy, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const stages = []
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line)
    if (!match || line.trim().startsWith('#')) continue
    if (match[1] === 'FROM') stages.push([])
    stages.at(-1)?.push({ instruction: match[1], args: match[2].trim() })
  }
  return stages
}

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

async function checkDockerfile() {
  const stages = dockerfileStages()
  const final = stages.at(-1) ?? []
  const find = (name) => final.filter((i) => i.instruction === name)
  if (stages.length < 2) fail('Dockerfile: a multi-stage build is expected (build tools stay out of the image)')
  const user = find('USER').at(-1)?.args
  if (!user || user === 'root' || user === '0') fail('Dockerfile: the runtime stage must switch to an unprivileged USER')
  const health = find('HEALTHCHECK').at(-1)?.args
  if (!health) fail('Dockerfile: a HEALTHCHECK is expected')
  const entrypoint = JSON.parse(find('ENTRYPOINT').at(-1)?.args ?? 'null')
  const cmd = JSON.parse(find('CMD').at(-1)?.args ?? '[]')
  if (!Array.isArray(entrypoint)) return fail('Dockerfile: ENTRYPOINT must be in exec form (JSON), so the connector gets SIGTERM as PID 1')
  if (failures.some((f) => f.startsWith('Dockerfile'))) return
  ok('Dockerfile: multi-stage, unprivileged, health check, exec-form entry point')

  if (has('docker', ['info'])) return dockerRun()
  console.log('      no Docker daemon: running the Dockerfile steps on the host')
  // The build stage: pack, unpack into /app, dependencies (here: those installed), as read-only as the image.
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
  if (pack.status !== 0) return fail(`Dockerfile build stage: npm pack failed: ${pack.stderr.trim()}`)
  const tarball = join(work, JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0].filename)
  const app = join(work, 'opt', 'passerelle')
  mkdirSync(app, { recursive: true })
  if (spawnSync('tar', ['xzf', tarball, '-C', app, '--strip-components=1']).status !== 0) return fail('Dockerfile build stage: the tarball does not unpack')
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'))
  const readOnly = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue
      if (entry.isDirectory()) readOnly(join(dir, entry.name))
      chmodSync(join(dir, entry.name), entry.isDirectory() ? 0o555 : 0o444)
    }
  }
  readOnly(app)
  // The runtime stage: its environment, the volume (a participant made by init), entry point and command.
  const env = { ...process.env, OTEL_SDK_DISABLED: 'true' }
  for (const { args } of find('ENV')) for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) env[key] = value
  const volume = join(work, 'var', 'lib', 'passerelle')
  const port = await freePort()
  Object.assign(env, { PASSERELLE_CONFIG: join(volume, 'passerelle.yaml'), PASSERELLE_HOST: '127.0.0.1', PASSERELLE_PORT: String(port) })
  const command = entrypoint.map((part) => part.replace('/opt/passerelle', app))
  const init = spawnSync(command[0], [...command.slice(1), 'init', volume, '--host', '127.0.0.1', '--port', String(port)], { env, encoding: 'utf8' })
  if (init.status !== 0) return fail(`Dockerfile: passerelle init failed: ${init.stderr.trim()}`)
  const child = spawn(command[0], [...command.slice(1), ...cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  child.stderr.on('data', (chunk) => (errors += chunk))
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  const probe = JSON.parse(health.replace(/^.*?CMD\s+/, ''))
  let healthy = false
  for (let i = 0; i < 120 && !healthy; i++) {
    await new Promise((r) => setTimeout(r, 250))
    healthy = spawnSync(probe[0] === 'node' ? process.execPath : probe[0], probe.slice(1), { env }).status === 0
  }
  child.kill('SIGTERM')
  const code = await exited
  if (!healthy) return fail(`Dockerfile: the HEALTHCHECK never passed: ${errors.trim()}`)
  if (code !== 0) return fail(`Dockerfile: the connector exited ${code} on SIGTERM: ${errors.trim()}`)
  ok('Dockerfile: built from the packed package, run read-only with the image environment, healthy, stopped by SIGTERM with exit 0')
}

function dockerRun() {
  const tag = `passerelle-check:${process.pid}`
  const build = spawnSync('docker', ['build', '-f', join(deploy, 'Dockerfile'), '-t', tag, root], { stdio: 'inherit' })
  if (build.status !== 0) return fail('Dockerfile: docker build failed')
  const volume = join(work, 'participant')
  mkdirSync(volume, { mode: 0o777 })
  chmodSync(volume, 0o777)
  const run = (args) => spawnSync('docker', args, { encoding: 'utf8' })
  const init = run([
    'run',
    '--rm',
    '--read-only',
    '-v',
    `${volume}:/var/lib/passerelle`,
    tag,
    'init',
    '/var/lib/passerelle/p',
    '--host',
    '127.0.0.1',
    '--port',
    '8181',
  ])
  if (init.status !== 0) return fail(`Dockerfile: init in the image failed: ${init.stderr.trim()}`)
  ok('Dockerfile: built and ran init read-only in the image')
}

try {
  checkSystemdUnit()
  checkCompose()
  await checkDockerfile()
} finally {
  const writable = (dir) => {
    try {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isSymbolicLink()) continue
        chmodSync(join(dir, entry.name), 0o755)
        if (entry.isDirectory()) writable(join(dir, entry.name))
      }
    } catch {}
  }
  writable(work)
  rmSync(work, { recursive: true, force: true })
}
console.log(failures.length ? `${failures.length} problem(s)` : 'deploy/: all checks passed')
process.exit(failures.length ? 1 : 0)
