import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey } from 'jose'
import type { Clock } from '../clock.ts'
import type { SigningKey } from '../identity/keys.ts'
import { signJwt } from '../identity/jwt.ts'
import type { Db, Store } from '../store/store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { auditRepository, type AuditCheckpoint } from './audit-repository.ts'
import { refusalBudget } from './refusal-budget.ts'
import { canonicalJson, chainChecker, genesisHash, sha256Hex, type AuditEntry, type AuditRecord, type ChainProblem } from './chain.ts'

export type { AuditEntry, AuditRecord } from './chain.ts'

/** The participant's key and DID: checkpoints and agreement digests are signed with them. */
export interface AuditSigner {
  participantId: string
  key: SigningKey
}

export interface AuditSettings {
  enabled: boolean
  /** How often a checkpoint is signed when records were added since the last one (ms). */
  checkpointEveryMs: number
  /** Records older than this are pruned, up to a checkpoint (ms); 0 keeps everything. */
  retentionMs: number
  /** Refusals of unverified callers recorded one by one per minute; the rest are counted (see `refusalBudget`). */
  unverifiedPerMinute?: number
}

/**
 * The audit trail: the one way code records a decision that matters. `append` runs inside the
 * transaction of the state change it records, so both commit or neither does; `record` is for
 * what changes no state (a refused identity, a management call) and runs in a transaction of its
 * own. Checkpoints sign the chain's head with the participant's key; pruning keeps the chain
 * verifiable from the checkpoint it stops at.
 */
export interface AuditTrail {
  readonly enabled: boolean
  append(tx: Db, ...entries: AuditEntry[]): Promise<void>
  record(...entries: AuditEntry[]): Promise<void>
  /** A caller whose identity did not verify was refused: recorded at a bounded rate. */
  refusedUnverified(payload: Record<string, unknown>): Promise<void>
  /** A signature of an agreement document's digest by this participant (compact JWS), when it has a key. */
  signDigest(digest: string): Promise<string | undefined>
  agreementHistory(agreementId: string, limit?: number): Promise<AuditRecord[]>
  /** Signs a checkpoint at the chain's head if records were added since the last one. */
  checkpoint(): Promise<AuditCheckpoint | undefined>
  /** Removes records past retention, up to the newest checkpoint old enough; answers how many. */
  prune(): Promise<number>
  /** Checkpoints and pruning on a timer. */
  start(): { stop(): Promise<void> }
}

export const checkpointType = 'passerelle-audit-checkpoint+jwt'
/** The `typ` of a participant's signature of an agreement's digest. */
export const agreementDigestType = 'passerelle-agreement-digest+jwt'

/** The digest an agreement is known by in the trail: sha256 of its canonical JSON. */
export const agreementDigest = (agreement: unknown) => sha256Hex(canonicalJson(agreement))

/** What a transaction's appends hold for its end (see `Store.deferToCommit`). */
const pendingEntries = {}

export function createAuditTrail(deps: { store: Store; clock: Clock; logger: Logger; settings: AuditSettings; signer?: AuditSigner | undefined }): AuditTrail {
  const { store, clock, logger, settings, signer } = deps
  const repo = auditRepository(store)
  const now = () => clock.now().getTime()
  const unverified = refusalBudget({ write: (entry) => trail.record(entry), clock, perMinute: settings.unverifiedPerMinute ?? 60 })
  const sealEntries = async (tx: Db, held: Array<{ at: number; entries: AuditEntry[] }>) => void (await repo.append(tx, held))
  const trail: AuditTrail = {
    enabled: settings.enabled,
    async append(tx, ...entries) {
      if (!settings.enabled || entries.length === 0) return
      // Sealed at the end of the transaction, with every entry appended in it (and in those sharing
      // its commit): the chain's head is locked last, once, and only until the commit. Never
      // earlier: a transaction holding the head while it waits for another row could deadlock.
      await store.deferToCommit(tx, pendingEntries, { at: now(), entries }, sealEntries)
    },
    async record(...entries) {
      if (!settings.enabled || entries.length === 0) return
      await store.transaction((tx) => trail.append(tx, ...entries))
    },
    async refusedUnverified(payload) {
      if (settings.enabled) await unverified.refused(payload)
    },
    async signDigest(digest) {
      if (!signer) return undefined
      return signJwt({ iss: signer.participantId, sha256: digest, iat: Math.floor(now() / 1000) }, signer.key, signer.participantId, agreementDigestType)
    },
    agreementHistory: (agreementId, limit = 1000) => repo.ofAgreement(store.db, agreementId, limit),
    async checkpoint() {
      if (!settings.enabled || !signer) return undefined
      const head = await repo.head(store.db)
      const last = await repo.lastCheckpoint(store.db)
      if (head.seq === 0 || (last && last.seq >= head.seq)) return undefined
      const at = now()
      const signature = await signJwt(
        { seq: head.seq, hash: head.hash, at, participant: signer.participantId },
        signer.key,
        signer.participantId,
        checkpointType,
      )
      const checkpoint = { seq: head.seq, at, hash: head.hash, signature }
      await repo.addCheckpoint(store.db, checkpoint)
      return checkpoint
    },
    async prune() {
      if (!settings.retentionMs) return 0
      const anchor = await repo.pruneAnchor(store.db, now() - settings.retentionMs)
      if (!anchor) return 0
      return store.transaction((tx) => repo.pruneThrough(tx, anchor.seq))
    },
    start() {
      let running = Promise.resolve()
      const tick = () => {
        running = running
          .then(async () => {
            await trail.checkpoint()
            const pruned = await trail.prune()
            if (pruned) logger.info('audit records past retention pruned', { records: pruned })
          })
          .catch((error: Error) => logger.warn('audit checkpoint failed; retried at the next one', { error: error.message }))
      }
      const timer = setInterval(tick, settings.checkpointEveryMs)
      timer.unref()
      return {
        async stop() {
          clearInterval(timer)
          await running
          await unverified.flush().catch((error: Error) => logger.warn('audit record failed', { error: error.message }))
          // A last checkpoint, so that what this run recorded is signed.
          await trail.checkpoint().catch(() => undefined)
        },
      }
    },
  }
  return trail
}

export interface VerifyReport {
  ok: boolean
  records: number
  /** The first record checked (after pruning, the one after a checkpoint). */
  from: number
  /** The last record that held. */
  through: number
  checkpoints: number
  problem?: ChainProblem | { seq: number; reason: string }
}

/** Public keys that may have signed checkpoints, by key id (the fragment after `#`). */
export type CheckpointKeys = Map<string, { jwk: SigningKey['publicJwk']; alg: string }>

export const checkpointKeysOf = (keys: SigningKey[]): CheckpointKeys => new Map(keys.map((key) => [key.kid, { jwk: key.publicJwk, alg: key.alg }]))

/** Each public key is imported once, however many checkpoints it signed. */
const imported = new WeakMap<object, Promise<CryptoKey>>()
function importedKey(key: { jwk: SigningKey['publicJwk']; alg: string }): Promise<CryptoKey> {
  let found = imported.get(key)
  if (!found) imported.set(key, (found = importJWK(key.jwk, key.alg) as Promise<CryptoKey>))
  return found
}

/** Checks a checkpoint's signature and that it names this sequence and hash. */
export async function checkCheckpoint(checkpoint: AuditCheckpoint, keys: CheckpointKeys, participantId: string): Promise<string | undefined> {
  let kid: string
  try {
    kid = String(decodeProtectedHeader(checkpoint.signature).kid ?? '')
  } catch {
    return `the checkpoint at record ${checkpoint.seq} has no readable signature`
  }
  const [did, fragment] = kid.split('#')
  if (did !== participantId) return `the checkpoint at record ${checkpoint.seq} is signed by ${did}, not by ${participantId}`
  const key = keys.get(fragment ?? '')
  if (!key) return `the checkpoint at record ${checkpoint.seq} is signed with key ${fragment}, which is not one of this participant's keys`
  try {
    const { payload } = await jwtVerify(checkpoint.signature, await importedKey(key), { typ: checkpointType })
    if (payload.seq !== checkpoint.seq || payload.hash !== checkpoint.hash || payload.at !== checkpoint.at)
      return `the checkpoint at record ${checkpoint.seq} does not say what its signature signed`
  } catch {
    return `the checkpoint at record ${checkpoint.seq} has a bad signature`
  }
  return undefined
}

/**
 * Proves a stored chain: every record from the first kept one (record 1, or the one after the
 * checkpoint pruning stopped at) to the head, every checkpoint's signature, and that each checkpoint
 * names the hash its record has. Reads in batches; names the first record that does not hold.
 */
export async function verifyStoredChain(store: Store, options: { keys?: CheckpointKeys; participantId: string; batch?: number }): Promise<VerifyReport> {
  const repo = auditRepository(store)
  const db = store.db
  const checkpoints = await repo.checkpoints(db)
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]))
  const head = await repo.head(db)
  const first = await repo.first(db)
  const fail = (problem: VerifyReport['problem'], records: number, from: number, through: number): VerifyReport => ({
    ok: false,
    records,
    from,
    through,
    checkpoints: checkpoints.length,
    problem,
  })
  if (options.keys) {
    for (const checkpoint of checkpoints) {
      const problem = await checkCheckpoint(checkpoint, options.keys, options.participantId)
      if (problem) return fail({ seq: checkpoint.seq, reason: problem }, 0, 0, 0)
    }
  }
  let anchor = { seq: 0, hash: genesisHash }
  if (first && first.seq > 1) {
    const checkpoint = bySeq.get(first.seq - 1)
    if (!checkpoint)
      return fail({ seq: 1, reason: `records 1 to ${first.seq - 1} are missing and no checkpoint vouches for record ${first.seq - 1}` }, 0, first.seq, 0)
    anchor = { seq: checkpoint.seq, hash: checkpoint.hash }
  }
  const checker = chainChecker(anchor)
  let records = 0
  let broken: VerifyReport | undefined
  await repo.eachStored(anchor.seq, options.batch ?? 10_000, (row) => {
    const [seq, , , , , , , , , hash] = row
    const problem = checker.checkStored(row)
    const checkpoint = problem || bySeq.size === 0 ? undefined : bySeq.get(seq)
    if (problem) broken = fail(problem, records, anchor.seq + 1, checker.last.seq)
    else if (checkpoint && checkpoint.hash !== hash)
      broken = fail({ seq, reason: `record ${seq} differs from what the checkpoint at it signed` }, records, anchor.seq + 1, checker.last.seq)
    else records++
    return broken === undefined
  })
  if (broken) return broken
  const last = checker.last
  if (last.seq < head.seq)
    return fail(
      { seq: last.seq + 1, reason: `record ${last.seq + 1} is missing: the chain's head is at record ${head.seq}` },
      records,
      anchor.seq + 1,
      last.seq,
    )
  if (last.seq > head.seq || last.hash !== (head.seq === 0 ? genesisHash : head.hash))
    return fail(
      { seq: head.seq, reason: `the chain's head (record ${head.seq}) does not match the last record ${last.seq}` },
      records,
      anchor.seq + 1,
      last.seq,
    )
  const beyond = checkpoints.find((c) => c.seq > last.seq)
  if (beyond) return fail({ seq: beyond.seq, reason: `a checkpoint vouches for record ${beyond.seq}, which is missing` }, records, anchor.seq + 1, last.seq)
  return { ok: true, records, from: anchor.seq + 1, through: last.seq, checkpoints: checkpoints.length }
}
