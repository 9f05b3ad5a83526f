import { randomInt } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { isLoopbackHost, parseDidWeb } from './did-web.ts'
import type { SigningKey } from './keys.ts'
import { credentialProfiles, type CredentialProfile } from './credential-profiles.ts'
import { minimumListBits, setBit, signStatusListCredential, validityPurposes, type ValidityPurpose } from './status-list.ts'

/**
 * An authority's status lists, kept in its folder: `status/state.json` (which index each issued
 * credential holds, which bits are set) and the signed lists it publishes, `status/revocation.jwt` and
 * `status/suspension.jwt`, served at `/status/revocation` and `/status/suspension` of its did:web host.
 * Each credential gets a random free index in both lists (the spec's advice: an index in issuance order
 * would tell when a credential was issued).
 */

export const statusFolder = 'status'
/** Verifiers may use a list this long before asking again (the spec's `ttl`). */
export const defaultStatusTtlMs = 300_000

const IssuedEntry = z.object({ id: z.string(), subject: z.string(), type: z.string(), index: z.number().int().nonnegative(), issuedAt: z.string() })
export type IssuedEntry = z.infer<typeof IssuedEntry>

const StatusState = z.object({
  /** Which DCP profile the authority issues credentials and status lists in (its configuration). */
  profile: z.enum(credentialProfiles).default('vc11-sl2021/jwt'),
  size: z.number().int().min(minimumListBits),
  ttlMs: z.number().int().nonnegative(),
  issued: z.array(IssuedEntry),
  set: z.object({ revocation: z.array(z.number().int().nonnegative()), suspension: z.array(z.number().int().nonnegative()) }),
})
type StatusState = z.infer<typeof StatusState>

/** The published address of a purpose's list, on the authority's did:web host. */
export function statusListUrl(did: string, purpose: ValidityPurpose): string {
  const { host, hostname } = parseDidWeb(did)
  // The development authority serves plain HTTP on loopback; any other host is reached over HTTPS.
  return `${isLoopbackHost(hostname) ? 'http' : 'https'}://${host}/${statusFolder}/${purpose}`
}

export class AuthorityStatusError extends Error {}

export interface AuthorityStatus {
  /** The profile its credentials and lists are issued in. */
  readonly profile: CredentialProfile
  /** Reserves an index for a new credential; answers its `credentialStatus` entries. Saved by `publish`. */
  allocate(credential: { id: string; subject: string; type: string; issuedAt: Date }): Array<Record<string, unknown>>
  /** Credentials named by id (the VC id or jti) or by subject DID. */
  find(selector: { credential?: string; subject?: string }): IssuedEntry[]
  isSet(purpose: ValidityPurpose, index: number): boolean
  set(purpose: ValidityPurpose, index: number, value: boolean): void
  /** Writes the state and signs and writes both lists. */
  publish(now: Date): Promise<void>
}

export function openAuthorityStatus(dir: string, did: string, key: SigningKey, create: { profile?: CredentialProfile } = {}): AuthorityStatus {
  const folder = join(dir, statusFolder)
  const stateFile = join(folder, 'state.json')
  let state: StatusState
  if (existsSync(stateFile)) {
    const parsed = StatusState.safeParse(JSON.parse(readFileSync(stateFile, 'utf8')))
    if (!parsed.success) throw new AuthorityStatusError(`${stateFile} is not a status state file (${parsed.error.issues[0]?.message})`)
    state = parsed.data
  } else {
    state = {
      profile: create.profile ?? 'vc11-sl2021/jwt',
      size: minimumListBits,
      ttlMs: defaultStatusTtlMs,
      issued: [],
      set: { revocation: [], suspension: [] },
    }
  }
  const used = new Set(state.issued.map((entry) => entry.index))

  return {
    profile: state.profile,
    allocate(credential) {
      if (used.size >= state.size) throw new AuthorityStatusError(`every index of the ${state.size}-entry status lists is taken`)
      let index: number
      do index = randomInt(state.size)
      while (used.has(index))
      used.add(index)
      state.issued.push({ id: credential.id, subject: credential.subject, type: credential.type, index, issuedAt: credential.issuedAt.toISOString() })
      return validityPurposes.map((purpose) => ({
        id: `${statusListUrl(did, purpose)}#${index}`,
        type: 'BitstringStatusListEntry',
        statusPurpose: purpose,
        statusListIndex: String(index),
        statusListCredential: statusListUrl(did, purpose),
      }))
    },
    find(selector) {
      return state.issued.filter(
        (entry) =>
          (selector.credential !== undefined && entry.id === selector.credential) || (selector.subject !== undefined && entry.subject === selector.subject),
      )
    },
    isSet(purpose, index) {
      return state.set[purpose].includes(index)
    },
    set(purpose, index, value) {
      const others = state.set[purpose].filter((i) => i !== index)
      state.set[purpose] = value ? [...others, index].sort((a, b) => a - b) : others
    },
    async publish(now) {
      mkdirSync(folder, { recursive: true })
      for (const purpose of validityPurposes) {
        const bits = new Uint8Array(state.size / 8)
        for (const index of state.set[purpose]) setBit(bits, index, true)
        const url = statusListUrl(did, purpose)
        const jwt = await signStatusListCredential({ issuerDid: did, key, url, purpose, bits, issuedAt: now, ttlMs: state.ttlMs, profile: state.profile })
        writeAtomically(join(folder, `${purpose}.jwt`), `${jwt}\n`)
      }
      writeAtomically(stateFile, `${JSON.stringify(state, null, 2)}\n`)
    },
  }
}

/** A reader of the served file never sees half of it. */
function writeAtomically(path: string, text: string) {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, text, { mode: 0o644 })
  renameSync(temporary, path)
}
