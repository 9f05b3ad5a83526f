import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { FederationConfig } from '../federation/settings.ts'
import { parseAllowEntry } from '../http/egress.ts'

/**
 * The connector's configuration: one YAML file (the participant folder's `passerelle.yaml`),
 * validated at start-up; environment variables override it. Relative paths are resolved against
 * the folder holding the file (the participant folder).
 */

const port = z.coerce.number().int().min(0).max(65535)
const url = z.url({ protocol: /^https?$/ })

/** A list from YAML, or from an environment variable as comma-separated values. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== '')
        : value,
    z.array(item),
  )

const allowEntry = z.string().superRefine((value, refinement) => {
  try {
    parseAllowEntry(value)
  } catch (error) {
    refinement.addIssue({ code: 'custom', message: (error as Error).message })
  }
})

/** The DSP versions we can speak, newest first (the order of preference). */
export const dspVersions = ['2025-1', '2024-1'] as const
export type DspVersion = (typeof dspVersions)[number]
export const dspPaths: Record<DspVersion, string> = { '2025-1': '/dsp/2025-1', '2024-1': '/dsp/2024-1' }

const didHost = z.string().regex(/^[A-Za-z0-9.-]+(?::\d{1,5})?$/, 'expected a host name with an optional port, like example.org or 127.0.0.1:8381')

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
        bodyLimit: z.coerce
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
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
        /** Keys added and retired by `passerelle keys rotate|retire`, read again while running; relative to the participant folder. */
        keySchedule: z.string().min(1).default('identity/key-schedule.json'),
        /** How long `passerelle keys rotate` publishes a new key before it signs, and the old one after (ms); at least peers' DID refresh interval. */
        rotationOverlapMs: z.number().int().min(0).default(300_000),
        /** Shortest time between two fetches of a peer's DID document for a key id it lacked (ms, per DID). */
        didRefreshMs: z.number().int().min(0).default(30_000),
        /** DIDs of credential issuers this participant trusts. */
        trustedIssuers: z.array(z.string().min(1)).default([]),
        /** Data spaces this participant belongs to, each with its authorities and the credential types each may issue. */
        dataSpaces: z
          .array(
            z
              .object({
                id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected letters, digits, dot, dash or underscore'),
                issuers: z.array(z.object({ did: z.string().startsWith('did:'), types: z.array(z.string().min(1)).min(1) }).strict()).min(1),
              })
              .strict(),
          )
          .refine((spaces) => new Set(spaces.map((space) => space.id)).size === spaces.length, 'a data space id is listed twice')
          .default([]),
        /** For `static` mode: token → participant id. */
        staticTokens: z.record(z.string(), z.string()).default({}),
        /** Allow did:web resolution over plain HTTP for loopback hosts (development and tests only). */
        allowInsecureLoopback: z.boolean().default(false),
        /**
         * How peers' signing keys must be published: `when-listed` accepts the keys under
         * `verificationMethod` of a DID document that fills no relationship array (Eclipse EDC,
         * IdentityHub); `strict` always requires the relationship (capabilityInvocation for ID tokens).
         */
        keyRelationships: z.enum(['when-listed', 'strict']).default('when-listed'),
        /** First part of the DCP scopes we ask for and grant (`<alias>:<CredentialType>:read`); DCP's own alias by default. */
        scopeAlias: z
          .string()
          .regex(/^[A-Za-z0-9._-]+$/)
          .default('org.eclipse.dspace.dcp.vc.type'),
        /** VC JWT files this participant holds besides those added through the API (relative to the participant folder). */
        credentialFiles: z.array(z.string().min(1)).default([]),
        /** Checking peers' credentials against their issuers' status lists (W3C Bitstring Status List). */
        statusList: z
          .object({
            /** How long a list that cannot be fetched again is still used after it went stale (ms); then its credentials are refused. */
            graceMs: z.number().int().nonnegative().default(600_000),
            /** The longest a fetched list is used without asking its issuer again, whatever its ttl (ms). */
            maxAgeMs: z.number().int().nonnegative().default(300_000),
            /** Largest status list credential, and largest decompressed list, accepted (bytes). */
            maxBytes: z
              .number()
              .int()
              .min(16_384)
              .max(64 * 1024 * 1024)
              .default(2 * 1024 * 1024),
            /** How many status lists are cached. */
            maxLists: z.number().int().min(1).max(100_000).default(256),
          })
          .strict()
          .default({ graceMs: 600_000, maxAgeMs: 300_000, maxBytes: 2 * 1024 * 1024, maxLists: 256 }),
      })
      .strict()
      .default({
        statusList: { graceMs: 600_000, maxAgeMs: 300_000, maxBytes: 2 * 1024 * 1024, maxLists: 256 },
        mode: 'dcp',
        keyFiles: ['identity/private-key.jwk'],
        keySchedule: 'identity/key-schedule.json',
        rotationOverlapMs: 300_000,
        didRefreshMs: 30_000,
        trustedIssuers: [],
        dataSpaces: [],
        staticTokens: {},
        allowInsecureLoopback: false,
        keyRelationships: 'when-listed',
        scopeAlias: 'org.eclipse.dspace.dcp.vc.type',
        credentialFiles: [],
      }),
    catalog: z
      .object({
        datasetsDir: z.string().min(1).default('datasets'),
        policiesDir: z.string().min(1).default('policies'),
        /**
         * The files root: distributions may only name files under it (never the identity, data or
         * configuration files, even when it holds them). Distribution paths stay relative to the
         * participant folder (`file: files/a.csv`).
         */
        filesDir: z.string().min(1).default('files'),
        /** The largest file the management API (and the console's publish page) receives into the files root. */
        maxUploadBytes: z
          .number()
          .int()
          .min(1)
          .default(1024 ** 3),
        /** Bounded caches of encoded catalog pages and rendered datasets (entries; least recently used go first). */
        cache: z
          .object({ pages: z.number().int().min(0).max(1_000_000).default(1000), datasets: z.number().int().min(0).max(10_000_000).default(10_000) })
          .strict()
          .default({ pages: 1000, datasets: 10_000 }),
      })
      .strict()
      .default({ datasetsDir: 'datasets', policiesDir: 'policies', filesDir: 'files', maxUploadBytes: 1024 ** 3, cache: { pages: 1000, datasets: 10_000 } }),
    /** The federated catalog: peers to crawl, registry, schedule and limits. */
    federation: FederationConfig.prefault({}),
    /** Vocabularies the data space publishes (SKOS as Turtle, JSON-LD or YAML), each adding concepts to an operand's taxonomy. */
    vocabularies: z
      .object({
        sources: z.array(z.object({ url: z.url({ protocol: /^https?$/ }), operand: z.string().min(1) }).strict()).default([]),
        /** How often they are fetched again, in milliseconds (the last good version stays in force meanwhile). */
        refreshMs: z.coerce
          .number()
          .int()
          .min(1000)
          .max(7 * 86_400_000)
          .default(3_600_000),
      })
      .strict()
      .default({ sources: [], refreshMs: 3_600_000 }),
    /**
     * Outbound DSP messages: retried over a window (exponential backoff with jitter, capped), then
     * the process ends TERMINATED; claimed with a lease so that replicas share the work; limited
     * per peer, with a circuit breaker for a peer that cannot be reached.
     */
    dispatch: z
      .object({
        /** How long a message is retried, from when it was queued, in milliseconds. */
        retryWindowMs: z.coerce
          .number()
          .int()
          .min(0)
          .max(7 * 86_400_000)
          .default(300_000),
        /** An upper bound on attempts per message, on top of the window (none by default). */
        maxAttempts: z.coerce.number().int().min(1).max(1_000_000).optional(),
        /** Delay before the first retry, in milliseconds; it doubles at every attempt (with jitter). */
        baseDelayMs: z.coerce.number().int().min(0).max(3_600_000).default(200),
        /** The longest delay between two attempts, in milliseconds. */
        maxDelayMs: z.coerce.number().int().min(1).max(3_600_000).default(30_000),
        /** How long one attempt waits for the peer's answer, in milliseconds. */
        timeoutMs: z.coerce.number().int().min(100).max(300_000).default(10_000),
        /** Messages in flight at once, in all. */
        concurrency: z.coerce.number().int().min(1).max(10_000).default(64),
        /** Messages in flight at once towards one peer. */
        perPeerConcurrency: z.coerce.number().int().min(1).max(10_000).default(8),
        /** Deliveries in a row a peer did not answer in time that open its circuit (it is then left alone, then probed). */
        breakerThreshold: z.coerce.number().int().min(1).max(1000).default(5),
        /** How long an open circuit leaves its peer alone before a probe, in milliseconds. */
        breakerOpenMs: z.coerce.number().int().min(100).max(86_400_000).default(30_000),
        /** How long a replica's claim on a message holds without renewal, in milliseconds (at most 10 s). */
        leaseMs: z.coerce.number().int().min(500).max(10_000).default(10_000),
      })
      .strict()
      .prefault({}),
    negotiation: z
      .object({
        /** Negotiations one peer may hold open with this connector at once; a new one beyond is refused (429). */
        maxOpenPerPeer: z.coerce.number().int().min(1).max(10_000_000).default(1000),
      })
      .strict()
      .prefault({}),
    /** A push transfer: how long sending the data to the consumer is retried (backoff with jitter), then the transfer ends TERMINATED. */
    push: z
      .object({
        retryWindowMs: z.coerce
          .number()
          .int()
          .min(0)
          .max(7 * 86_400_000)
          .default(300_000),
        baseDelayMs: z.coerce.number().int().min(0).max(3_600_000).default(1000),
        maxDelayMs: z.coerce.number().int().min(1).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    /**
     * Where the connector may connect to. Addresses on loopback, private, link-local and other
     * special ranges are refused unless `allow` names them (exact `host:port`, or a CIDR range);
     * `didHosts`, when set, limits did:web resolution to the data space's members.
     */
    egress: z
      .object({
        allow: list(allowEntry).default([]),
        didHosts: list(didHost).optional(),
      })
      .strict()
      .default({ allow: [] }),
    /** The policy monitor: how often running transfers are checked against their agreement. */
    monitor: z
      .object({
        intervalMs: z.coerce.number().int().min(100).max(86_400_000).default(30_000),
      })
      .strict()
      .default({ intervalMs: 30_000 }),
    /** The tamper-evident audit trail (hash chain) and the metrics scrape endpoint. */
    audit: z
      .object({
        enabled: z.union([z.boolean(), z.stringbool()]).default(true),
        /** How often the chain's head is signed as a checkpoint (when records were added), in milliseconds. */
        checkpointEveryMs: z.coerce.number().int().min(1000).max(86_400_000).default(600_000),
        /** Records older than this many days are pruned, up to a checkpoint; 0 keeps them all. */
        retentionDays: z.coerce.number().int().min(0).max(36_500).default(0),
        /** Refusals of callers whose identity did not verify, recorded one by one per minute; the rest of the minute are recorded as one count. */
        unverifiedPerMinute: z.coerce.number().int().min(0).max(1_000_000).default(60),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** A token for `GET /metrics` besides the management key (at least 16 characters); Prometheus sends it as a bearer token. */
        token: z.string().min(16).optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    /** The Dataspace Protocol versions this connector speaks (each at its own path, see `dspPaths`). */
    dsp: z
      .object({
        versions: list(z.enum(dspVersions))
          .refine((versions) => versions.length > 0 && new Set(versions).size === versions.length, {
            message: 'expected each of 2025-1, 2024-1 at most once, and at least one',
          })
          .default([...dspVersions]),
      })
      .strict()
      .default({ versions: [...dspVersions] }),
  })
  .strict()

export type ConfigFile = z.infer<typeof ConfigFile>

/** The validated configuration with paths made absolute and defaults derived. */
export type Config = ConfigFile & {
  /** The participant folder (where the config file lives). */
  root: string
  /** The configuration file, when it was read from one. */
  configFile?: string
  /** Absolute; the folder for runtime state. */
  dataDir: string
  database: ConfigFile['database'] & { url: string }
  server: ConfigFile['server'] & { publicUrl: string }
  /** Our DSP base URL (publicUrl + dspPath); also our callback address. */
  dspUrl: string
}

export const dspPath = dspPaths['2025-1']
/** Where the DSP 2024-1 endpoints are (the same endpoints, through a codec: `dsp/edge-2024-1.ts`). */
export const dsp2024Path = dspPaths['2024-1']

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
  PASSERELLE_DISPATCH_RETRY_WINDOW_MS: 'dispatch.retryWindowMs',
  PASSERELLE_DISPATCH_MAX_DELAY_MS: 'dispatch.maxDelayMs',
  PASSERELLE_DISPATCH_PER_PEER_CONCURRENCY: 'dispatch.perPeerConcurrency',
  PASSERELLE_PUSH_RETRY_WINDOW_MS: 'push.retryWindowMs',
  PASSERELLE_MONITOR_INTERVAL_MS: 'monitor.intervalMs',
  PASSERELLE_EGRESS_ALLOW: 'egress.allow',
  PASSERELLE_EGRESS_DID_HOSTS: 'egress.didHosts',
  PASSERELLE_DSP_VERSIONS: 'dsp.versions',
  PASSERELLE_NEGOTIATION_MAX_OPEN_PER_PEER: 'negotiation.maxOpenPerPeer',
  PASSERELLE_AUDIT_ENABLED: 'audit.enabled',
  PASSERELLE_AUDIT_CHECKPOINT_EVERY_MS: 'audit.checkpointEveryMs',
  PASSERELLE_METRICS_TOKEN: 'metrics.token',
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
  return { ...resolveConfig(raw as Record<string, unknown>, dirname(path), options, file), configFile: path }
}

/** Validates a configuration object (already read) and resolves it against `root`. */
export function resolveConfig(raw: Record<string, unknown>, root: string, options: LoadConfigOptions = {}, source = 'configuration'): Config {
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
    // An item of a list set by one variable (egress.allow.2) comes from that variable.
    const where = origin.get(key) ?? [...origin].find(([set]) => key.startsWith(`${set}.`))?.[1] ?? source
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
