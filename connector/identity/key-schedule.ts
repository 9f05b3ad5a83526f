import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { z } from 'zod'
import { absolute, ConfigError } from '../config/config.ts'
import type { Clock } from '../clock.ts'
import type { Logger } from '../telemetry/logger.ts'
import { createKeyFile, loadKeyFile, loadKeyRing, type KeyRing, type SigningKey } from './keys.ts'

/**
 * Key rotation as data: the schedule file (`identity.keySchedule`, 0600) lists keys added by
 * `passerelle keys rotate` (their file, from when they sign) and when keys are retired. The ring is
 * computed from it and the clock, so a running connector (every replica reading the same folder)
 * publishes a new key at once, signs with it from its time, and stops publishing a retired key, with
 * no restart. Keys of `identity.keyFiles` and the environment sign from the start, newest first.
 */

const Instant = z.iso.datetime({ offset: true })
const kidPattern = /^[A-Za-z0-9._~-]+$/

export const KeyScheduleEntry = z
  .object({
    kid: z.string().regex(kidPattern, 'expected letters, digits, dot, dash, underscore or tilde'),
    /** A key added by rotation: its private JWK file, relative to the participant folder. */
    file: z.string().min(1).optional(),
    /** When it starts signing (a key added by rotation). */
    signsFrom: Instant.optional(),
    /** How long it was published before signing, as asked at rotation (ms). */
    overlapMs: z.number().int().nonnegative().optional(),
    /** When it stops being published and used. */
    retireAt: Instant.optional(),
  })
  .strict()
export type KeyScheduleEntry = z.infer<typeof KeyScheduleEntry>

export const KeySchedule = z
  .object({
    keys: z.array(KeyScheduleEntry).max(1000),
  })
  .strict()
  .superRefine((schedule, context) => {
    const seen = new Set<string>()
    for (const entry of schedule.keys) {
      if (seen.has(entry.kid)) context.addIssue({ code: 'custom', message: `key ${entry.kid} is listed twice` })
      seen.add(entry.kid)
      if (entry.file && !entry.signsFrom) context.addIssue({ code: 'custom', message: `key ${entry.kid} has a file but no signsFrom` })
    }
  })
export type KeySchedule = z.infer<typeof KeySchedule>

/** A published or retired key with its times (ms since the epoch; configured keys sign from the start). */
export interface ScheduledKey extends SigningKey {
  signsFrom: number
  retireAt: number
  /** Where it comes from: a file, or the environment variable. */
  source: string
}

export type KeyState = 'signing' | 'published' | 'pending' | 'retired'

/** The state of each key at `now`, newest first, and which one signs. */
export function keyStates(keys: ScheduledKey[], now: number): Array<{ key: ScheduledKey; state: KeyState }> {
  const signing = signingKeyAt(keys, now)
  return keys.map((key) => ({
    key,
    state: key === signing ? 'signing' : key.retireAt <= now ? 'retired' : key.signsFrom > now ? 'pending' : 'published',
  }))
}

/**
 * The key that signs at `now`: among those still published, the one that started signing last. A key
 * whose time has not come is only published (peers learn it before they meet it). When none may sign
 * yet (the old one retired early), the next one to sign does: a connector never stops signing.
 */
export function signingKeyAt(keys: ScheduledKey[], now: number): ScheduledKey | undefined {
  const published = keys.filter((key) => key.retireAt > now)
  const ready = published.filter((key) => key.signsFrom <= now)
  if (ready.length > 0) return ready.reduce((best, key) => (key.signsFrom > best.signsFrom ? key : best))
  return published.reduce<ScheduledKey | undefined>((best, key) => (!best || key.signsFrom < best.signsFrom ? key : best), undefined)
}

export function readKeySchedule(path: string): KeySchedule {
  if (!existsSync(path)) return { keys: [] }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw new ConfigError(`key schedule ${path} is not JSON`)
  }
  const parsed = KeySchedule.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConfigError(`key schedule ${path}: ${issue.path.join('.') || 'schedule'}: ${issue.message}`)
  }
  return parsed.data
}

/** Writes the schedule whole (a reader never sees half of it), readable by its owner only. */
export function writeKeySchedule(path: string, schedule: KeySchedule): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(KeySchedule.parse(schedule), null, 2)}\n`, { mode: 0o600 })
  renameSync(temporary, path)
}

export interface ScheduledKeysOptions {
  root: string
  keyFiles: string[]
  /** The schedule file, relative to the participant folder. */
  schedule: string
  env?: Record<string, string | undefined>
}

/** Every key of the participant, newest first, with its times: the schedule's added keys, then the configured ones. */
export async function loadScheduledKeys(options: ScheduledKeysOptions): Promise<ScheduledKey[]> {
  const schedulePath = absolute(options.root, options.schedule)
  const schedule = readKeySchedule(schedulePath)
  const configured = await loadKeyRing({ root: options.root, keyFiles: options.keyFiles, env: options.env })
  const entries = new Map(schedule.keys.map((entry) => [entry.kid, entry]))
  const keys: ScheduledKey[] = []
  const added = schedule.keys.filter((entry) => entry.file).sort((a, b) => Date.parse(b.signsFrom!) - Date.parse(a.signsFrom!))
  for (const entry of added) {
    const key = await loadKeyFile(absolute(options.root, entry.file!))
    if (key.kid !== entry.kid) throw new ConfigError(`key schedule ${schedulePath}: ${entry.file} holds key ${key.kid}, not ${entry.kid}`)
    keys.push({ ...key, signsFrom: Date.parse(entry.signsFrom!), retireAt: timeOf(entry.retireAt), source: entry.file! })
  }
  const sources = [...(configured.all.length > options.keyFiles.length ? ['the environment'] : []), ...options.keyFiles]
  for (const [index, key] of configured.all.entries()) {
    if (keys.some((other) => other.kid === key.kid)) throw new ConfigError(`identity keys: two keys have the id ${key.kid}`)
    // Configured keys sign from the start, in their order (the first signs): older ones a moment earlier.
    keys.push({
      ...key,
      signsFrom: Number.MIN_SAFE_INTEGER + (configured.all.length - index),
      retireAt: timeOf(entries.get(key.kid)?.retireAt),
      source: sources[index] ?? 'the environment',
    })
  }
  return keys
}

const timeOf = (instant: string | undefined) => (instant === undefined ? Number.POSITIVE_INFINITY : Date.parse(instant))

export interface RotatingKeyRingOptions extends ScheduledKeysOptions {
  clock: Clock
  logger: Logger
  /** How often the schedule file is looked at for changes (ms). */
  reloadMs?: number
}

/**
 * The key ring of a running connector: `signing` and `all` follow the schedule and the clock. The
 * schedule file is looked at (one `stat`) at most every `reloadMs` when the ring is read; a changed
 * file is read again in the background. A key first seen while running signs no earlier than its
 * overlap after this process published it, so a connector that read the change late still gives
 * peers the whole window.
 */
export async function loadRotatingKeyRing(options: RotatingKeyRingOptions): Promise<KeyRing & { scheduled(): ScheduledKey[] }> {
  const schedulePath = absolute(options.root, options.schedule)
  const reloadMs = options.reloadMs ?? 2000
  let keys = await loadScheduledKeys(options)
  let lastSigning = signingKeyAt(keys, options.clock.now().getTime())
  if (!lastSigning) throw new ConfigError(`identity keys: every key is retired (${options.schedule}); run passerelle keys rotate`)
  let stamp = stampOf(schedulePath)
  let lastLook = options.clock.now().getTime()
  let reloading = false

  const look = () => {
    const now = options.clock.now().getTime()
    if (reloading || now - lastLook < reloadMs) return
    lastLook = now
    const next = stampOf(schedulePath)
    if (next === stamp) return
    reloading = true
    loadScheduledKeys(options)
      .then((loaded) => {
        const seenAt = options.clock.now().getTime()
        const known = new Set(keys.map((key) => key.kid))
        const overlap = new Map(readKeySchedule(schedulePath).keys.map((entry) => [entry.kid, entry.overlapMs ?? 0]))
        const nextKeys = loaded.map((key) => (known.has(key.kid) ? key : { ...key, signsFrom: Math.max(key.signsFrom, seenAt + (overlap.get(key.kid) ?? 0)) }))
        stamp = next
        if (!signingKeyAt(nextKeys, seenAt)) throw new Error('every key would be retired')
        keys = nextKeys
        options.logger.info('identity: key schedule read again', {
          keys: keyStates(keys, seenAt).map(({ key, state }) => `${key.kid} ${state}`),
        })
      })
      .catch((error: unknown) => {
        // The keys in use stay; the operator fixes the file (`passerelle keys list` says what is wrong).
        stamp = next
        options.logger.error('identity: key schedule not read; the keys in use stay', { error: (error as Error).message })
      })
      .finally(() => {
        reloading = false
      })
  }

  const current = () => {
    look()
    return options.clock.now().getTime()
  }
  return {
    get signing() {
      // Never without a key: should every key be retired by time, the last one that signed goes on.
      lastSigning = signingKeyAt(keys, current()) ?? lastSigning
      return lastSigning!
    },
    get all() {
      const now = current()
      return keys.filter((key) => key.retireAt > now)
    },
    recent(withinMs: number) {
      const now = current()
      return keys.filter((key) => key.retireAt > now - withinMs)
    },
    scheduled: () => keys,
  }
}

function stampOf(path: string): string {
  try {
    const stat = statSync(path)
    return `${stat.mtimeMs} ${stat.size} ${stat.ino}`
  } catch {
    return 'absent'
  }
}

export interface RotateInput {
  root: string
  keyFiles: string[]
  schedule: string
  env?: Record<string, string | undefined>
  now: number
  overlapMs: number
}

/**
 * `passerelle keys rotate`: a new Ed25519 key, published from now, signing after `overlapMs`; the key
 * that signs now is retired one more overlap later (tokens it signed have expired by then, and peers
 * that cached our document have read it again). Refused while a rotation is under way.
 */
export async function rotateKeys(input: RotateInput): Promise<{ added: ScheduledKey; retiring: ScheduledKey; file: string }> {
  const keys = await loadScheduledKeys(input)
  const pending = keys.find((key) => key.signsFrom > input.now && key.retireAt > input.now)
  if (pending) throw new ConfigError(`a rotation is under way: key ${pending.kid} signs from ${new Date(pending.signsFrom).toISOString()}`)
  const retiring = signingKeyAt(keys, input.now)
  if (!retiring) throw new ConfigError('no key signs now: nothing to rotate')
  const schedulePath = absolute(input.root, input.schedule)
  const folder = join(dirname(schedulePath), 'keys')
  const stamp = new Date(input.now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  const kid = `key-${stamp}`
  if (keys.some((key) => key.kid === kid)) throw new ConfigError(`key ${kid} exists already; rotate again in a second`)
  const path = join(folder, `${kid}.jwk`)
  await createKeyFile(path, kid)
  const file = relative(input.root, path)
  const schedule = readKeySchedule(schedulePath)
  const signsFrom = input.now + input.overlapMs
  const retireAt = signsFrom + input.overlapMs
  const entries = schedule.keys.filter((entry) => entry.kid !== retiring.kid)
  const retiringEntry = schedule.keys.find((entry) => entry.kid === retiring.kid) ?? { kid: retiring.kid }
  writeKeySchedule(schedulePath, {
    keys: [
      { kid, file, signsFrom: new Date(signsFrom).toISOString(), overlapMs: input.overlapMs },
      { ...retiringEntry, retireAt: new Date(retireAt).toISOString() },
      ...entries,
    ],
  })
  const added = (await loadScheduledKeys(input)).find((key) => key.kid === kid)!
  return { added, retiring: { ...retiring, retireAt }, file }
}

/** `passerelle keys retire KID`: stops publishing a key now; refused for the key that signs when no other could. */
export async function retireKey(input: Omit<RotateInput, 'overlapMs'> & { kid: string }): Promise<ScheduledKey> {
  const keys = await loadScheduledKeys(input)
  const key = keys.find((candidate) => candidate.kid === input.kid)
  if (!key) throw new ConfigError(`no key ${input.kid} (see passerelle keys list)`)
  if (key.retireAt <= input.now) throw new ConfigError(`key ${input.kid} is retired already`)
  const others = keys.filter((other) => other !== key && other.retireAt > input.now && other.signsFrom <= input.now)
  if (signingKeyAt(keys, input.now) === key && others.length === 0) {
    throw new ConfigError(`key ${input.kid} signs and no other key may sign yet: rotate first (passerelle keys rotate)`)
  }
  const schedulePath = absolute(input.root, input.schedule)
  const schedule = readKeySchedule(schedulePath)
  const retireAt = new Date(input.now).toISOString()
  const found = schedule.keys.some((entry) => entry.kid === input.kid)
  writeKeySchedule(schedulePath, {
    keys: found ? schedule.keys.map((entry) => (entry.kid === input.kid ? { ...entry, retireAt } : entry)) : [...schedule.keys, { kid: input.kid, retireAt }],
  })
  return { ...key, retireAt: input.now }
}
