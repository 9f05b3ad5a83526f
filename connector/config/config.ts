import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { FederationConfig } from '../federation/settings.ts'

/**
 * The connector's configuration: one YAML file (the participant folder's `passerelle.yaml`),
 * validated at start-up; environment variables override it. Relative paths are resolved against
 * the folder holding the file (the participant folder).
 */

const port = z.coerce.number().int().min(0).max(65535)
const url = z.url({ protocol: /^https?$/ })

export const ConfigFile = z
  .object({
    participant: z
      .object({
        /** The participant id peers know us by: our DID with DCP. */
        id: z.string().min(1),
        name: z.string().min(1),
      })
      .strict(),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8181),
        /** The base URL peers reach us at; defaults to http://host:port. */
        publicUrl: url.optional(),
        /** Largest accepted request body, in bytes. */
        bodyLimit: z.coerce.number().int().positive().default(1024 * 1024),
        /** How long shutdown waits for in-flight requests, in milliseconds. */
        shutdownTimeout: z.coerce.number().int().positive().default(5000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8181, bodyLimit: 1024 * 1024, shutdownTimeout: 5000 }),
    /** Runtime state: the SQLite database, received data. */
    dataDir: z.string().min(1).default('data'),
    database: z
      .object({
        /** `postgres://…` selects PostgreSQL; empty means a SQLite file in dataDir. */
        url: z.string().min(1).optional(),
        poolSize: z.coerce.number().int().positive().default(10),
      })
      .strict()
      .default({ poolSize: 10 }),
    management: z
      .object({
        /** Bearer key for /management/v1; at least 16 characters. */
        apiKey: z.string().min(16).optional(),
      })
      .strict()
      .default({}),
    identity: z
      .object({
        /** `dcp`: did:web + self-issued tokens + verifiable credentials. `static`: fixed tokens (TCK, tests). */
        mode: z.enum(['dcp', 'static']).default('dcp'),
        /** Private key file(s), JWK, newest first; relative to the participant folder. */
        keyFiles: z.array(z.string().min(1)).default(['identity/private-key.jwk']),
        /** DIDs of credential issuers this participant trusts. */
        trustedIssuers: z.array(z.string().min(1)).default([]),
        /** For `static` mode: token → participant id. */
        staticTokens: z.record(z.string(), z.string()).default({}),
        /** Allow did:web resolution over plain HTTP for loopback hosts (development and tests only). */
        allowInsecureLoopback: z.boolean().default(false),
        /** First part of the DCP scopes we ask for (`<alias>:<CredentialType>:read`); EDC's default. */
        scopeAlias: z.string().regex(/^[A-Za-z0-9._-]+$/).default('org.eclipse.edc.vc.type'),
        /** VC JWT files this participant holds besides those added through the API (relative to the participant folder). */
        credentialFiles: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({
        mode: 'dcp',
        keyFiles: ['identity/private-key.jwk'],
        trustedIssuers: [],
        staticTokens: {},
        allowInsecureLoopback: false,
        scopeAlias: 'org.eclipse.edc.vc.type',
        credentialFiles: [],
      }),
    catalog: z
      .object({
        datasetsDir: z.string().min(1).default('datasets'),
        policiesDir: z.string().min(1).default('policies'),
      })
      .strict()
      .default({ datasetsDir: 'datasets', policiesDir: 'policies' }),
    /** The federated catalog: peers to crawl, registry, schedule and limits. */
    federation: FederationConfig.prefault({}),
    /** Outbound DSP messages: bounded exponential retries, then the process ends TERMINATED. */
    dispatch: z
      .object({
        maxAttempts: z.coerce.number().int().min(1).max(100).default(6),
        /** Delay before the first retry, in milliseconds; it doubles at every attempt. */
        baseDelayMs: z.coerce.number().int().min(0).max(3_600_000).default(200),
      })
      .strict()
      .default({ maxAttempts: 6, baseDelayMs: 200 }),
    /** The policy monitor: how often running transfers are checked against their agreement. */
    monitor: z
      .object({
        intervalMs: z.coerce.number().int().min(100).max(86_400_000).default(30_000),
      })
      .strict()
      .default({ intervalMs: 30_000 }),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()

export type ConfigFile = z.infer<typeof ConfigFile>

/** The validated configuration with paths made absolute and defaults derived. */
export type Config = ConfigFile & {
  /** The participant folder (where the config file lives). */
  root: string
  /** Absolute; the folder for runtime state. */
  dataDir: string
  database: ConfigFile['database'] & { url: string }
  server: ConfigFile['server'] & { publicUrl: string }
  /** Our DSP base URL (publicUrl + dspPath); also our callback address. */
  dspUrl: string
}

export const dspPath = '/dsp/2025-1'

/** A configuration problem, reported as one line naming the key; the CLI exits with code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** Environment variables and the key each overrides. */
export const environmentOverrides = {
  PASSERELLE_HOST: 'server.host',
  PASSERELLE_PORT: 'server.port',
  PASSERELLE_PUBLIC_URL: 'server.publicUrl',
  PASSERELLE_DATABASE_URL: 'database.url',
  PASSERELLE_MANAGEMENT_KEY: 'management.apiKey',
  PASSERELLE_DATA_DIR: 'dataDir',
  PASSERELLE_LOG_LEVEL: 'log.level',
  PASSERELLE_DISPATCH_MAX_ATTEMPTS: 'dispatch.maxAttempts',
  PASSERELLE_DISPATCH_BASE_DELAY_MS: 'dispatch.baseDelayMs',
  PASSERELLE_MONITOR_INTERVAL_MS: 'monitor.intervalMs',
} as const

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>
  /** Explicit overrides (command-line flags), applied last. */
  overrides?: Record<string, unknown>
}

export function loadConfig(file: string, options: LoadConfigOptions = {}): Config {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`)
  }
  const document = parseDocument(text)
  if (document.errors.length > 0) {
    const first = document.errors[0]!
    const line = first.linePos?.[0]?.line
    throw new ConfigError(`${file}${line ? `:${line}` : ''}: not valid YAML: ${first.message.split(' at line ')[0]}`)
  }
  const raw = document.toJS() ?? {}
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a mapping of keys at the top level`)
  return resolveConfig(raw as Record<string, unknown>, dirname(path), options, file)
}

/** Validates a configuration object (already read) and resolves it against `root`. */
export function resolveConfig(
  raw: Record<string, unknown>,
  root: string,
  options: LoadConfigOptions = {},
  source = 'configuration',
): Config {
  const env = options.env ?? process.env
  const merged = structuredClone(raw)
  const origin = new Map<string, string>()
  for (const [variable, key] of Object.entries(environmentOverrides)) {
    const value = env[variable]
    if (value === undefined || value === '') continue
    setPath(merged, key, value)
    origin.set(key, `environment variable ${variable}`)
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue
    setPath(merged, key, value)
    origin.set(key, 'command line')
  }
  const parsed = ConfigFile.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const key = issue.path.join('.') || '(top level)'
    const where = origin.get(key) ?? source
    const given = issue.path.reduce<unknown>((node, part) => (node as Record<PropertyKey, unknown> | undefined)?.[part], merged)
    const shown = given === undefined || typeof given === 'object' ? '' : `, got ${JSON.stringify(given)}`
    throw new ConfigError(`invalid configuration key ${key} (${where}): ${describeIssue(issue).replace(/, received \w+$/, '')}${shown}`)
  }
  const config = parsed.data
  const dataDir = absolute(root, config.dataDir)
  const publicUrl = (config.server.publicUrl ?? `http://${hostForUrl(config.server.host)}:${config.server.port}`).replace(/\/+$/, '')
  return {
    ...config,
    root,
    dataDir,
    database: { ...config.database, url: config.database.url ?? resolve(dataDir, 'passerelle.db') },
    server: { ...config.server, publicUrl },
    dspUrl: publicUrl + dspPath,
  }
}

/** Resolves a path from the configuration against the participant folder. */
export const absolute = (root: string, path: string) => (isAbsolute(path) ? path : resolve(root, path))

const hostForUrl = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host)

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      // zod says "Invalid input: expected number, received string"
      return issue.message.replace(/^Invalid input: /, '').replace('received undefined', 'but the key is missing')
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
    case 'too_small':
      return issue.origin === 'string' ? `expected at least ${issue.minimum} characters` : `expected at least ${issue.minimum}`
    case 'too_big':
      return `expected at most ${issue.maximum}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    default:
      return issue.message
  }
}

function setPath(target: Record<string, unknown>, key: string, value: unknown) {
  const parts = key.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    const next = node[part]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {}
    node = node[part] as Record<string, unknown>
  }
  node[parts.at(-1)!] = value
}
