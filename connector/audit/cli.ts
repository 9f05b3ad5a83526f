import { readFileSync, writeFileSync, appendFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config/config.ts'
import { loadKeyRing } from '../identity/keys.ts'
import { openStore } from '../store/store.ts'
import { UsageError, type CliIo } from '../cli/io.ts'
import { findConfigFile } from '../cli/participant-config.ts'
import { checkpointKeysOf, verifyStoredChain, type CheckpointKeys, type VerifyReport } from './audit-trail.ts'
import { exportTrail, verifyExport } from './export.ts'
import { auditHelp } from './cli-help.ts'

export async function runAuditCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  if (!sub || sub === '--help' || sub === 'help') {
    io.stdout(auditHelp)
    return sub ? 0 : 2
  }
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string' }, file: { type: 'string' }, since: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  })
  if (values.help) {
    io.stdout(auditHelp)
    return 0
  }
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig(findConfigFile(values.config, io), { env: io.env })
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message)
    throw error
  }
  if (sub === 'verify') {
    const keys = await participantKeys(config, io)
    const participantId = config.participant.id
    if (values.file) {
      let text: string
      try {
        text = readFileSync(resolve(io.cwd, values.file), 'utf8')
      } catch (error) {
        throw new UsageError(`cannot read ${values.file}: ${(error as NodeJS.ErrnoException).code ?? error}`)
      }
      const report = await verifyExport(text, { ...(keys ? { keys } : {}), participantId })
      if (report.ok && report.anchor === 'unproven') io.stdout(`note: record ${report.from} is not anchored: the file holds no checkpoint before it`)
      return printReport(report, io)
    }
    const store = await openStore({ url: config.database.url })
    try {
      return printReport(await verifyStoredChain(store, { ...(keys ? { keys } : {}), participantId }), io)
    } finally {
      await store.close()
    }
  }
  if (sub === 'export') {
    const since = values.since === undefined ? 0 : Date.parse(values.since)
    if (Number.isNaN(since)) throw new UsageError(`--since ${values.since} is not a time: expected ISO 8601, like 2026-12-01 or 2026-12-01T10:00:00Z`)
    const out = values.out ? resolve(io.cwd, values.out) : undefined
    if (out) writeFileSync(out, '', { mode: 0o600 })
    const store = await openStore({ url: config.database.url })
    try {
      const written = await exportTrail(store, { since, write: (line) => (out ? appendFileSync(out, `${line}\n`) : io.stdout(line)) })
      io.stderr(`${written.records} records and ${written.checkpoints} checkpoints exported`)
      return 0
    } finally {
      await store.close()
    }
  }
  throw new UsageError(`unknown audit command ${sub}: expected verify or export`)
}

/** The participant's public keys, to check checkpoints; none in a participant without keys (static identity). */
async function participantKeys(config: ReturnType<typeof loadConfig>, io: CliIo): Promise<CheckpointKeys | undefined> {
  try {
    const ring = await loadKeyRing({ root: config.root, keyFiles: config.identity.keyFiles, env: io.env })
    return checkpointKeysOf(ring.all)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    io.stderr(`checkpoint signatures not checked: ${error.message}`)
    return undefined
  }
}

function printReport(report: VerifyReport, io: CliIo): number {
  if (report.ok) {
    io.stdout(`the audit chain holds: records ${report.from} to ${report.through} (${report.records} records), ${report.checkpoints} checkpoints`)
    return 0
  }
  io.stdout(`BROKEN at record ${report.problem!.seq}: ${report.problem!.reason}`)
  if (report.through >= report.from && report.through > 0) io.stdout(`records ${report.from} to ${report.through} hold`)
  return 1
}
