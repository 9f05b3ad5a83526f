import { hash } from 'node:crypto'

/**
 * The audit chain's arithmetic, with no I/O: how a record is sealed (its payload's digest, the hash
 * of the record before it, its own hash over canonical JSON) and how a run of records is checked.
 * The same functions serve appending, `audit verify` on a database and on an exported file.
 */

/** The hash a chain starts from: the "previous hash" of record 1. */
export const genesisHash = '0'.repeat(64)

export interface AuditRecord {
  seq: number
  /** Epoch milliseconds. */
  at: number
  kind: string
  /** The ids the record is about: `negotiation`, `agreement`, `transfer`, `participant`, … */
  subjects: Record<string, string>
  /** The agreement it belongs to (`subjects.agreement`), kept apart to be found by it. */
  agreementId: string | null
  actor: string
  payload: Record<string, unknown>
  payloadDigest: string
  prevHash: string
  hash: string
}

/** What an append is given; the sequence, digests and hashes are the chain's. */
export interface AuditEntry {
  kind: string
  subjects: Record<string, string | null | undefined>
  actor: string
  payload: Record<string, unknown>
}

/**
 * JSON with object keys sorted at every depth and `undefined` members left out: one spelling per
 * value, so a digest of it does not depend on who wrote the object. Throws on values JSON cannot hold.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, member: unknown) => {
    if (member === null || typeof member !== 'object' || Array.isArray(member)) return member
    const sorted: Record<string, unknown> = {}
    for (const key of Object.keys(member as Record<string, unknown>).sort()) sorted[key] = (member as Record<string, unknown>)[key]
    return sorted
  })
}

export const sha256Hex = (text: string) => hash('sha256', text, 'hex')

/** canonicalJson of a record's subjects, made without a replacer when they are what they should be (string ids). */
function subjectsJson(subjects: Record<string, string>): string {
  const sorted: Record<string, string> = {}
  for (const key of Object.keys(subjects).sort()) {
    if (typeof subjects[key] !== 'string') return canonicalJson(subjects)
    sorted[key] = subjects[key]
  }
  return JSON.stringify(sorted)
}

/**
 * The hash of a record: over every field but the hash itself and the stored payload (its digest
 * stands for it). The canonical JSON of `{ seq, at, kind, subjects, actor, payloadDigest, prevHash }`
 * is spelled out, keys in sorted order, because `audit verify` computes it for every record.
 */
export const recordHash = (r: Omit<AuditRecord, 'hash' | 'payload' | 'agreementId' | 'subjects'>, subjects: Record<string, string>) =>
  sha256Hex(
    `{"actor":${JSON.stringify(r.actor)},"at":${JSON.stringify(r.at)},"kind":${JSON.stringify(r.kind)},"payloadDigest":${JSON.stringify(r.payloadDigest)},"prevHash":${JSON.stringify(r.prevHash)},"seq":${JSON.stringify(r.seq)},"subjects":${subjectsJson(subjects)}}`,
  )

/** Seals an entry as record `seq` after a record whose hash is `prevHash`. */
export function sealRecord(entry: AuditEntry, seq: number, at: number, prevHash: string): AuditRecord {
  // Keys in canonical order, so that the stored text is the one hashed and `audit verify` can hash it as it is.
  const subjects: Record<string, string> = {}
  for (const key of Object.keys(entry.subjects).sort()) {
    const id = entry.subjects[key]
    if (typeof id === 'string' && id !== '') subjects[key] = id
  }
  // What is stored is what was hashed: the payload as its canonical JSON reads back.
  const payloadText = canonicalJson(entry.payload)
  const payload = JSON.parse(payloadText) as Record<string, unknown>
  const payloadDigest = sha256Hex(payloadText)
  const sealed = { seq, at, kind: entry.kind, subjects, actor: entry.actor, payloadDigest, prevHash }
  return { ...sealed, agreementId: subjects.agreement ?? null, payload, hash: recordHash(sealed, subjects) }
}

/**
 * A record as a checker reads it: decoded (an export), or with its subjects and payload as the JSON
 * text the database stores (`audit verify`); the payload text is hashed as it is when it is the
 * canonical text that was sealed, and the subjects are parsed here.
 */
export type CheckedRecord = Omit<AuditRecord, 'payload' | 'subjects'> &
  ({ payload: unknown; subjects: Record<string, string> } | { payloadText: string; subjectsText: string })

/** Stored subjects as an object of ids, or undefined when the text is not one. */
function storedSubjects(text: string): Record<string, string> | undefined {
  try {
    const subjects: unknown = JSON.parse(text)
    return subjects !== null && typeof subjects === 'object' && !Array.isArray(subjects) ? (subjects as Record<string, string>) : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether a record's payload is the one its digest was made of. The stored text is what was hashed
 * when sealed, so it is hashed directly; only when that differs is it parsed and put in canonical
 * form (a database may spell the same JSON otherwise), so that one spelling never counts as a change.
 */
function payloadHolds(r: CheckedRecord): boolean {
  if (!('payloadText' in r)) return sha256Hex(canonicalJson(r.payload)) === r.payloadDigest
  if (sha256Hex(r.payloadText) === r.payloadDigest) return true
  try {
    return sha256Hex(canonicalJson(JSON.parse(r.payloadText))) === r.payloadDigest
  } catch {
    return false
  }
}

/**
 * A record as `audit verify` reads it from the database, one array per row (no object is made per
 * record): the columns in this order, the subjects and payload as their stored JSON text.
 */
export type StoredRow = [
  seq: number,
  at: number,
  kind: string,
  subjectsText: string,
  agreementId: string | null,
  actor: string,
  payloadText: string,
  payloadDigest: string,
  prevHash: string,
  hash: string,
]

export interface ChainProblem {
  /** The first record that does not hold. */
  seq: number
  reason: string
}

/**
 * Checks records in sequence order, one at a time, from an anchor: the sequence and hash of the
 * record before the first (0 and the genesis hash for a whole chain, a checkpoint after pruning).
 * Answers the first problem; it stays the answer.
 */
export function chainChecker(anchor: { seq: number; hash: string }) {
  let expected = anchor.seq + 1
  let previous = anchor.hash
  let problem: ChainProblem | undefined
  // The previous hash is spliced into the text hashed as it is, which needs it to be hex (every hash
  // that held is; an anchor read from a checkpoint is checked once).
  let previousIsHex = /^[0-9a-f]{64}$/.test(previous)
  // Records sealed before the subjects were stored in canonical order hold only the long way: after
  // one of them, splicing the stored text (a wasted hash) is tried again only 1,024 records later.
  let spliceFrom = 0
  const checker = {
    /**
     * Checks a stored row. The common case costs two sha256 and one parse of the subjects: the
     * payload's stored text against its digest, and the record's hash over the stored subjects
     * text, which is the canonical text when the record was sealed by this version (a collision
     * aside, a hash that matches proves the text is the one sealed). Anything else (a subjects text
     * in another spelling, a payload that differs, a broken link) goes through `check`, which names
     * the problem.
     */
    checkStored(row: StoredRow): ChainProblem | undefined {
      const [seq, at, kind, subjectsText, agreementId, actor, payloadText, payloadDigest, prevHash, hash] = row
      let subjects: Record<string, string> | undefined
      if (
        problem === undefined &&
        seq === expected &&
        seq >= spliceFrom &&
        previousIsHex &&
        prevHash === previous &&
        Number.isSafeInteger(at) &&
        sha256Hex(payloadText) === payloadDigest &&
        sha256Hex(
          `{"actor":${JSON.stringify(actor)},"at":${at},"kind":${JSON.stringify(kind)},"payloadDigest":"${payloadDigest}","prevHash":"${prevHash}","seq":${seq},"subjects":${subjectsText}}`,
        ) === hash &&
        (subjects = storedSubjects(subjectsText)) !== undefined &&
        (subjects.agreement ?? null) === agreementId
      ) {
        expected = seq + 1
        previous = hash
        return undefined
      }
      const found = checker.check({ seq, at, kind, subjectsText, agreementId, actor, payloadText, payloadDigest, prevHash, hash })
      if (found === undefined && seq >= spliceFrom) spliceFrom = seq + 1024
      return found
    },
    check(r: CheckedRecord): ChainProblem | undefined {
      if (problem) return problem
      if (r.seq !== expected) {
        problem =
          r.seq > expected
            ? { seq: expected, reason: `record ${expected} is missing (the next one stored is ${r.seq}): records were deleted` }
            : { seq: r.seq, reason: `record ${r.seq} appears after record ${expected - 1}: records were reordered` }
        return problem
      }
      const subjects = 'subjectsText' in r ? storedSubjects(r.subjectsText) : r.subjects
      if (!payloadHolds(r)) problem = { seq: r.seq, reason: `record ${r.seq} was changed: its payload does not match its digest` }
      else if (!subjects) problem = { seq: r.seq, reason: `record ${r.seq} was changed: its subjects are not a JSON object` }
      else if (recordHash(r, subjects) !== r.hash) problem = { seq: r.seq, reason: `record ${r.seq} was changed: its hash does not match its content` }
      else if ((subjects.agreement ?? null) !== r.agreementId)
        problem = { seq: r.seq, reason: `record ${r.seq} was changed: its agreement id does not match its subjects` }
      else if (r.prevHash !== previous)
        problem = {
          seq: r.seq,
          reason:
            r.seq === anchor.seq + 1 && anchor.seq > 0
              ? `record ${r.seq} does not follow the checkpoint at record ${anchor.seq}`
              : `record ${r.seq} does not follow record ${r.seq - 1}: its previous hash differs (record ${r.seq - 1} was changed or replaced)`,
        }
      if (problem) return problem
      expected = r.seq + 1
      previous = r.hash
      previousIsHex = true
      return undefined
    },
    /** The last record that held: its sequence and hash. */
    get last() {
      return { seq: expected - 1, hash: previous }
    },
  }
  return checker
}
