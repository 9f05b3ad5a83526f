import { z } from 'zod'
import type { Store } from '../store/store.ts'
import { auditRepository, type AuditCheckpoint } from './audit-repository.ts'
import { checkCheckpoint, type CheckpointKeys, type VerifyReport } from './audit-trail.ts'
import { chainChecker, genesisHash, type AuditRecord } from './chain.ts'

/**
 * The audit trail as JSON lines: one `record` line per record from a time on, in sequence order,
 * then the `checkpoint` lines that vouch for them (and the one before the first, when kept), so an
 * export can be checked alone, with the participant's public keys.
 */
export async function exportTrail(
  store: Store,
  options: { since: number; write: (line: string) => void | Promise<void> },
): Promise<{ records: number; checkpoints: number }> {
  const repo = auditRepository(store)
  let records = 0
  let firstSeq: number | undefined
  for (let after = 0; ; ) {
    const rows = await repo.since(store.db, options.since, after, 10_000)
    for (const row of rows) {
      firstSeq ??= row.seq
      await options.write(JSON.stringify({ type: 'record', ...row }))
      records++
    }
    if (rows.length < 10_000) break
    after = rows[rows.length - 1]!.seq
  }
  let checkpoints = 0
  if (firstSeq !== undefined) {
    for (const checkpoint of await repo.checkpoints(store.db)) {
      if (checkpoint.seq < firstSeq - 1) continue
      await options.write(JSON.stringify({ type: 'checkpoint', ...checkpoint }))
      checkpoints++
    }
  }
  return { records, checkpoints }
}

const id = z.string().min(1).max(2048)
const RecordLine = z
  .object({
    type: z.literal('record'),
    seq: z.number().int().positive(),
    at: z.number().int().nonnegative(),
    kind: id,
    subjects: z.record(z.string(), id),
    agreementId: id.nullable(),
    actor: id,
    payload: z.record(z.string(), z.unknown()),
    payloadDigest: z.string().regex(/^[0-9a-f]{64}$/),
    prevHash: z.string().regex(/^[0-9a-f]{64}$/),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict()
const CheckpointLine = z
  .object({
    type: z.literal('checkpoint'),
    seq: z.number().int().positive(),
    at: z.number().int().nonnegative(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    signature: z.string().min(1).max(8192),
  })
  .strict()

export interface ExportReport extends VerifyReport {
  /** How the first record is anchored: record 1, a checkpoint in the file, or only its own previous hash (not proven). */
  anchor: 'genesis' | 'checkpoint' | 'unproven'
}

/**
 * Checks an exported file: each line well formed, the records chained in the order they appear,
 * every checkpoint signed by the participant (when keys are given) and equal to its record. A
 * record forged in the file breaks its own hash or the next one's link; one forged with every hash
 * after it recomputed breaks the next checkpoint.
 */
export async function verifyExport(text: string, options: { keys?: CheckpointKeys; participantId: string }): Promise<ExportReport> {
  const records: AuditRecord[] = []
  const checkpoints: AuditCheckpoint[] = []
  const lines = text.split('\n')
  const fail = (seq: number, reason: string, through = 0): ExportReport => ({
    ok: false,
    anchor: 'unproven',
    records: records.length,
    from: records[0]?.seq ?? 0,
    through,
    checkpoints: checkpoints.length,
    problem: { seq, reason },
  })
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue
    let raw: unknown
    try {
      raw = JSON.parse(line)
    } catch {
      return fail(0, `line ${index + 1} is not JSON`)
    }
    const type = (raw as { type?: unknown } | null)?.type
    const parsed = type === 'checkpoint' ? CheckpointLine.safeParse(raw) : RecordLine.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      return fail(
        0,
        `line ${index + 1} is not an audit ${type === 'checkpoint' ? 'checkpoint' : 'record'}: ${issue.path.join('.') || 'line'}: ${issue.message}`,
      )
    }
    const { type: _type, ...value } = parsed.data
    if (parsed.data.type === 'checkpoint') checkpoints.push(value as AuditCheckpoint)
    else records.push(value as AuditRecord)
  }
  if (options.keys) {
    for (const checkpoint of checkpoints) {
      const problem = await checkCheckpoint(checkpoint, options.keys, options.participantId)
      if (problem) return fail(checkpoint.seq, problem)
    }
  }
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]))
  const first = records[0]
  let anchor: ExportReport['anchor'] = 'genesis'
  let start = { seq: 0, hash: genesisHash }
  if (first && first.seq > 1) {
    const checkpoint = bySeq.get(first.seq - 1)
    anchor = checkpoint ? 'checkpoint' : 'unproven'
    start = { seq: first.seq - 1, hash: checkpoint?.hash ?? first.prevHash }
  }
  const checker = chainChecker(start)
  for (const record of records) {
    const problem = checker.check(record)
    if (problem) return { ...fail(problem.seq, problem.reason, checker.last.seq), anchor }
    const checkpoint = bySeq.get(record.seq)
    if (checkpoint && checkpoint.hash !== record.hash)
      return { ...fail(record.seq, `record ${record.seq} differs from what the checkpoint at it signed`, checker.last.seq), anchor }
  }
  const last = checker.last
  const beyond = checkpoints.find((c) => c.seq > last.seq)
  if (beyond) return { ...fail(beyond.seq, `a checkpoint vouches for record ${beyond.seq}, which is not in the file`, last.seq), anchor }
  return { ok: true, anchor, records: records.length, from: start.seq + 1, through: last.seq, checkpoints: checkpoints.length }
}
