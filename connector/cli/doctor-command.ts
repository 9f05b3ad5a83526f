import { readFileSync, statSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import { formatFileError, readDatasetsDir } from '../../catalog/index.ts'
import { absolute, ConfigError, loadConfig, type Config } from '../config/config.ts'
import { loadKeyRing } from '../identity/keys.ts'
import { distributionFiles, filesRoot, octal, privatePlaces } from '../private-places.ts'
import { credentialFindings, databaseFindings, didFindings, doctorClient, type Finding, peerFindings } from './doctor-checks.ts'
import type { CliIo } from './io.ts'
import { findConfigFile } from './participant-config.ts'
import { doctorHelp } from './command-help.ts'

export async function runDoctorCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, offline: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true })
  if (values.help) {
    io.stdout(doctorHelp)
    return 0
  }
  const configFile = findConfigFile(values.config, io)
  io.stdout(`passerelle doctor: ${configFile}`)
  const findings = await examine(configFile, io.env, values.offline === true)
  for (const f of findings) {
    io.stdout(`${f.problem ? 'PROBLEM' : f.warning ? 'warn   ' : 'ok     '}  ${f.message}`)
    if (f.fix) io.stdout(`         fix: ${f.fix}`)
  }
  const problems = findings.filter((f) => f.problem).length
  io.stdout(problems === 0 ? 'no problem found' : `${problems} problem${problems === 1 ? '' : 's'} found`)
  return problems === 0 ? 0 : 1
}

async function examine(configFile: string, env: Record<string, string | undefined>, offline: boolean): Promise<Finding[]> {
  let config: Config
  try {
    config = loadConfig(configFile, { env })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return [{ problem: true, message: error.message, fix: 'correct the key named above (see docs/operator-guide.md)' }]
  }
  const findings: Finding[] = [{ problem: false, message: `the configuration is valid (participant ${config.participant.id})` }]
  const shown = (path: string) => relative(config.root, path) || '.'
  try {
    await loadKeyRing({ root: config.root, keyFiles: config.identity.keyFiles, env })
    findings.push({ problem: false, message: `the identity keys can be read (${config.identity.keyFiles.join(', ') || 'from the environment'})` })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    findings.push({ problem: true, message: error.message, fix: 'restore the key file, or create a participant with passerelle init' })
  }
  findings.push(...modeFindings(config, shown))
  findings.push(...(await distributionFindings(config, shown)))
  findings.push(...(await databaseFindings(config)))
  findings.push(...credentialFindings(config, Date.now()))
  if (!offline) {
    const client = doctorClient(config)
    try {
      findings.push(...(await didFindings(config, client, Date.now)))
      findings.push(...(await peerFindings(config, client, Date.now)))
    } finally {
      await client.close()
    }
  }
  return findings
}

/** Modes and owners of the private places that exist. */
function modeFindings(config: Config, shown: (path: string) => string): Finding[] {
  const findings: Finding[] = []
  const uid = process.getuid?.()
  for (const place of privatePlaces(config)) {
    if (!place.mode) continue
    let info
    try {
      info = statSync(place.path)
    } catch {
      if (place.kind === 'folder')
        findings.push({ problem: false, message: `${shown(place.path)}: ${place.what} does not exist yet (the connector creates it 0700)` })
      continue
    }
    const mode = info.mode & 0o777
    if (uid !== undefined && info.uid !== uid) {
      findings.push({
        problem: true,
        message: `${shown(place.path)}: ${place.what} belongs to user ${info.uid}, not to the user running the connector (${uid})`,
        fix: `chown ${uid} ${place.path}`,
      })
    }
    if ((mode & ~place.mode) === 0) {
      findings.push({ problem: false, message: `${shown(place.path)}: ${place.what}, mode ${octal(mode)}` })
    } else if (place.what === 'a private identity key' && isDevOnlyKey(place.path)) {
      findings.push({
        problem: false,
        message: `${shown(place.path)}: a dev-only key (public on purpose), mode ${octal(mode)}; never use it for a real participant`,
      })
    } else {
      findings.push({
        problem: true,
        message: `${shown(place.path)}: ${place.what} has mode ${octal(mode)}: readable by ${mode & 0o007 ? 'every local user' : 'its group'}`,
        fix: `chmod ${octal(place.mode).slice(1)} ${place.path}${place.what === 'a private identity key' ? ' (and consider the key exposed: rotate it)' : ''}`,
      })
    }
  }
  return findings
}

function isDevOnlyKey(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { devOnly?: unknown }).devOnly === true
  } catch {
    return false
  }
}

/** The files root, and every distribution that names a file it does not allow. */
async function distributionFindings(config: Config, shown: (path: string) => string): Promise<Finding[]> {
  const root = filesRoot(config)
  const findings: Finding[] = []
  try {
    if (!statSync(root).isDirectory()) throw new Error('not a folder')
    findings.push({ problem: false, message: `${shown(root)}: the files root` })
  } catch {
    findings.push({ problem: false, message: `${shown(root)}: the files root does not exist; no distribution can name a local file` })
  }
  const datasetsDir = absolute(config.root, config.catalog.datasetsDir)
  const read = await readDatasetsDir(datasetsDir, { root: config.root, files: distributionFiles(config) })
  const misplaced = read.errors.filter((e) => /\.file$/.test(e.field))
  for (const error of misplaced) {
    const missing = /^(no such file|the files folder)/.test(error.message)
    findings.push({
      problem: true,
      message: formatFileError(error),
      fix: missing ? 'restore the file, or correct the path' : `move the file under ${shown(root)}/ and name it there, or remove the distribution`,
    })
  }
  if (misplaced.length === 0)
    findings.push({
      problem: false,
      message: `${shown(datasetsDir)}: every distribution names a file under the files root (${read.files.length} dataset files)`,
    })
  return findings
}
