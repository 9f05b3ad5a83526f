import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { z } from 'zod'
import { absolute, ConfigError } from '../config/config.ts'

/**
 * The participant's signing keys. Private keys are JWK files readable by their owner only, or come
 * from the PASSERELLE_IDENTITY_KEY environment variable (one JWK, or a JSON array of them). Several keys
 * allow rotation: the first (newest) signs, all are published in the DID document until removed;
 * `key-schedule.ts` adds keys and retires them while the connector runs (`passerelle keys rotate`).
 */

export const identityKeyVariable = 'PASSERELLE_IDENTITY_KEY'

export type SigningAlgorithm = 'EdDSA' | 'ES256'

/** A private JWK as stored: Ed25519 (OKP) by default, P-256 accepted for keys made elsewhere. */
export const PrivateJwk = z
  .object({
    kty: z.enum(['OKP', 'EC']),
    crv: z.enum(['Ed25519', 'P-256']),
    x: z.string().min(1),
    y: z.string().min(1).optional(),
    d: z.string().min(1),
    kid: z
      .string()
      .regex(/^[A-Za-z0-9._~-]+$/, 'expected letters, digits, dot, dash, underscore or tilde')
      .optional(),
    /** A key published on purpose (development seeds): never use one for a real participant. */
    devOnly: z.literal(true).optional(),
  })
  .loose()
export type PrivateJwk = z.infer<typeof PrivateJwk>

export interface SigningKey {
  /** The key id: the fragment of its verification method (`<did>#<kid>`). */
  kid: string
  alg: SigningAlgorithm
  privateKey: CryptoKey
  /** The public half, as published in the DID document. */
  publicJwk: JWK
}

export interface KeyRing {
  /** The key that signs: the newest. */
  signing: SigningKey
  /** Every key still published, newest first. */
  all: SigningKey[]
  /** Keys that still verify tokens we issued (published, or retired less than `withinMs` ago); `all` when absent. */
  recent?(withinMs: number): SigningKey[]
}

/** Creates an Ed25519 key file, readable by its owner only; never overwrites an existing file. */
export async function createKeyFile(path: string, kid?: string): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair('Ed25519', { extractable: true })
  const jwk = (await exportJWK(privateKey)) as PrivateJwk
  const id = kid ?? `key-${(await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x })).slice(0, 16)}`
  const stored: PrivateJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d, kid: id }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  writeFileSync(path, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600) // the umask may have narrowed it already; make it exact
  return stored
}

/**
 * Reads a private key file; refuses one that group or others could read. A key published on purpose
 * (the development seeds, marked `"devOnly": true`) has no secret to protect and is exempt: git does not
 * keep file modes, so a fresh checkout makes it readable by all.
 */
export async function loadKeyFile(path: string): Promise<SigningKey> {
  let mode: number
  let text: string
  try {
    mode = statSync(path).mode
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read identity key file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new ConfigError(`identity key file ${path} is not a JSON Web Key`)
  }
  const devOnly = (raw as { devOnly?: unknown } | null)?.devOnly === true
  if (!devOnly && process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new ConfigError(`identity key file ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`)
  }
  return importPrivateJwk(raw, `identity key file ${path}`)
}

export async function importPrivateJwk(raw: unknown, source: string): Promise<SigningKey> {
  const parsed = PrivateJwk.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConfigError(`${source}: not a private Ed25519 or P-256 JWK (${issue.path.join('.') || 'key'}: ${issue.message})`)
  }
  const jwk = parsed.data
  const alg: SigningAlgorithm = jwk.crv === 'Ed25519' ? 'EdDSA' : 'ES256'
  if ((jwk.kty === 'OKP') !== (jwk.crv === 'Ed25519') || (jwk.crv === 'P-256' && !jwk.y)) {
    throw new ConfigError(`${source}: key type ${jwk.kty} does not match curve ${jwk.crv}`)
  }
  const publicJwk: JWK = jwk.crv === 'Ed25519' ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x } : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y! }
  const kid = jwk.kid ?? `key-${(await calculateJwkThumbprint(publicJwk)).slice(0, 16)}`
  let privateKey: CryptoKey
  try {
    privateKey = (await importJWK({ ...publicJwk, d: jwk.d }, alg)) as CryptoKey
  } catch (error) {
    throw new ConfigError(`${source}: the key cannot be imported (${(error as Error).message})`)
  }
  return { kid, alg, privateKey, publicJwk: { ...publicJwk, kid, alg } }
}

export interface LoadKeyRingOptions {
  root: string
  keyFiles: string[]
  env?: Record<string, string | undefined>
}

/** The keys from the environment variable (first) and the key files (in their configured order). */
export async function loadKeyRing(options: LoadKeyRingOptions): Promise<KeyRing> {
  const keys: SigningKey[] = []
  const fromEnv = (options.env ?? process.env)[identityKeyVariable]
  if (fromEnv) {
    let raw: unknown
    try {
      raw = JSON.parse(fromEnv)
    } catch {
      throw new ConfigError(`environment variable ${identityKeyVariable} is not JSON (expected a JWK or an array of JWKs)`)
    }
    for (const [index, jwk] of (Array.isArray(raw) ? raw : [raw]).entries()) {
      keys.push(await importPrivateJwk(jwk, `environment variable ${identityKeyVariable}[${index}]`))
    }
  }
  for (const file of options.keyFiles) keys.push(await loadKeyFile(absolute(options.root, file)))
  const [signing] = keys
  if (!signing) throw new ConfigError(`invalid configuration key identity.keyFiles: no identity key (set it or ${identityKeyVariable})`)
  const seen = new Set<string>()
  for (const key of keys) {
    if (seen.has(key.kid)) throw new ConfigError(`identity keys: two keys have the id ${key.kid}`)
    seen.add(key.kid)
  }
  return { signing, all: keys }
}

/** A fresh Ed25519 key held in memory only (tests, benchmarks). */
export async function generateSigningKey(kid?: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('Ed25519', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return importPrivateJwk({ ...jwk, ...(kid ? { kid } : {}) }, 'generated key')
}
