import { z } from 'zod'
import { HttpApi } from './http-api.ts'

/**
 * The dataset description the stewards write (one `datasets/*.yaml` file per dataset) and the
 * management API accepts (the same shape, as JSON). Everything else in the catalog is derived from it.
 */

const languageTag = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'expected a language tag such as en or fr-CA')

/** A text in one or several languages: `"Text"` (no language given) or `{ en: "Text", fr: "Texte" }`. */
export const LocalizedText = z.union([
  z.string().trim().min(1, 'expected a non-empty text'),
  z.record(languageTag, z.string().trim().min(1, 'expected a non-empty text')).refine((v) => Object.keys(v).length > 0, 'expected at least one language'),
])
export type LocalizedText = z.infer<typeof LocalizedText>

/** Keywords, either a plain list or lists per language. */
export const Keywords = z.union([z.array(z.string().trim().min(1)), z.record(languageTag, z.array(z.string().trim().min(1)))])
export type Keywords = z.infer<typeof Keywords>

const iri = z.string().regex(/^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>"{}|\\^`]+$/, 'expected an absolute IRI (e.g. https://… or urn:…)')
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
const date = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, 'expected a date (YYYY-MM-DD) or a date-time with its offset')
  .refine((v) => !Number.isNaN(Date.parse(v)), 'expected a real date')

/** Dataset ids: IRIs (`urn:uuid:…`, `https://…`) or short ids such as the TCK's `CAT0101`. */
export const DatasetId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s<>"{}|\\^`]+$/, 'expected an id without spaces or <>"{}|\\^` characters')

/** Policy ids as the policy files name them. */
export const PolicyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected a policy id such as research-only')

export const Agent = z
  .object({
    /** The agent's IRI (e.g. its ROR or website), when it has one. */
    id: iri.optional(),
    name: LocalizedText,
    /** An ADMS publisher type, e.g. http://purl.org/adms/publishertype/Academia-ScientificOrganisation. */
    type: iri.optional(),
  })
  .strict()
export type Agent = z.infer<typeof Agent>

export const ContactPoint = z
  .object({
    name: z.string().trim().min(1),
    email: z.email('expected an email address'),
    url: httpUrl.optional(),
  })
  .strict()
export type ContactPoint = z.infer<typeof ContactPoint>

export const TemporalCoverage = z
  .object({ start: date, end: date.optional() })
  .strict()
  .refine((t) => t.end === undefined || Date.parse(t.end) >= Date.parse(t.start), { message: 'end is before start', path: ['end'] })

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hexadecimal characters')

/** An S3 object key or prefix: relative, no `.` or `..` segment, no control characters. */
const objectPath = z
  .string()
  .max(1024)
  .refine((k) => !k.startsWith('/') && !k.split('/').some((part) => part === '..' || part === '.'), 'expected a key without a leading / or . and .. segments')
  .refine((k) => ![...k].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'expected a key without control characters')

/**
 * An object (key) or a folder of objects (prefix) in S3-compatible storage (AWS, Ceph, MinIO…).
 * Credentials are named, never written here: the connector reads them from its environment.
 */
export const S3Location = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3 to 63 lowercase letters, digits, dots and dashes)'),
    key: objectPath.min(1).optional(),
    /** A folder of objects, delivered as an archive; ends with `/`. */
    prefix: objectPath.regex(/\/$/, 'expected a prefix ending with /').optional(),
    /** The storage's URL (Ceph, MinIO…); AWS S3 when absent. */
    endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'expected a region such as us-east-1')
      .default('us-east-1'),
    /** Address buckets as `endpoint/bucket` (most self-hosted storage) rather than `bucket.endpoint`. */
    pathStyle: z.boolean().default(false),
    /** Name of the secret holding the access key (never the key itself); anonymous access when absent. */
    credentials: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'expected a secret name')
      .optional(),
    /**
     * The steward allows a consumer to ask for a short-lived presigned GET of the object instead of
     * the bytes through the connector (`?redirect=presigned` on the pull); `ttl` in seconds.
     */
    presign: z
      .object({
        ttl: z
          .number()
          .int('expected a whole number of seconds')
          .min(1, 'expected at least 1 second')
          .max(3600, 'expected at most 3600 seconds (one hour): a presigned URL cannot be revoked')
          .default(300),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.key === undefined) === (s.prefix === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of key or prefix', path: [] })
    if (s.presign !== undefined && s.prefix !== undefined)
      ctx.addIssue({ code: 'custom', message: 'presign applies to one object (key), not to a prefix (delivered as an archive)', path: ['presign'] })
    if (s.presign !== undefined && s.credentials === undefined)
      ctx.addIssue({ code: 'custom', message: 'presign needs credentials to sign with (an anonymous object needs no presigned URL)', path: ['presign'] })
    if (s.endpoint !== undefined) {
      const url = new URL(s.endpoint)
      if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'the endpoint must not carry credentials: name a secret', path: ['endpoint'] })
      if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'expected an endpoint without query or fragment', path: ['endpoint'] })
    }
  })
export type S3Location = z.infer<typeof S3Location>

const relativePath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), `expected a ${what} relative to the participant folder, without ..`)

export const Distribution = z
  .object({
    title: LocalizedText.optional(),
    /** Media type of the bytes (IANA), e.g. text/csv; for folders, the type of the files inside. */
    mediaType: z.string().regex(/^[a-z]+\/[a-zA-Z0-9.+-]+$/, 'expected a media type such as text/csv'),
    /** File type from the EU file-type vocabulary, e.g. CSV, JSON, NETCDF (defaults from the media type). */
    format: z
      .string()
      .regex(/^[A-Z0-9_]+$/, 'expected an EU file-type code such as CSV')
      .optional(),
    /** Required for a file or a URL; optional for an S3 object; not for folders (their size changes with them). */
    byteSize: z.number().int().nonnegative().optional(),
    sha256: sha256.optional(),
    /** A file under the files root (`catalog.filesDir`), relative to the participant folder. */
    file: relativePath('path').optional(),
    /** Or a folder under the files root, delivered as an archive (tar, or zip on request). */
    folder: relativePath('folder').optional(),
    /** Or an upstream HTTP URL the data plane fetches from. */
    url: httpUrl.optional(),
    /** Or an object (or a prefix) in S3-compatible storage. */
    s3: S3Location.optional(),
    /** Name of the secret holding the upstream's credentials (never the credentials themselves). */
    secret: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'expected a secret name')
      .optional(),
    /** For a url: the query parameters and path suffixes a consumer may pass, and the limits (see http-api.ts). */
    api: HttpApi.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const given = [d.file, d.folder, d.url, d.s3].filter((v) => v !== undefined).length
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of file, folder, url or s3', path: [] })
    if (d.api !== undefined && d.url === undefined) ctx.addIssue({ code: 'custom', message: 'api only applies to a url source', path: ['api'] })
    if (d.secret !== undefined && d.url === undefined) ctx.addIssue({ code: 'custom', message: 'secret only applies to a url source', path: ['secret'] })
    if (d.file !== undefined || d.url !== undefined) {
      if (d.byteSize === undefined) ctx.addIssue({ code: 'invalid_type', expected: 'number', message: 'missing mandatory field', path: ['byteSize'] })
      if (d.sha256 === undefined) ctx.addIssue({ code: 'invalid_type', expected: 'string', message: 'missing mandatory field', path: ['sha256'] })
    }
    if (d.folder !== undefined || d.s3?.prefix !== undefined)
      for (const field of ['byteSize', 'sha256'] as const)
        if (d[field] !== undefined)
          ctx.addIssue({ code: 'custom', message: `${field} does not apply to a folder (each file's is in the archive's manifest)`, path: [field] })
  })
export type Distribution = z.infer<typeof Distribution>

/**
 * Text-and-data-mining rights as the W3C TDMRep community report states them: `reservation: true`
 * is `tdm-reservation: 1` (the rights holder reserves text and data mining, as EU directive
 * 2019/790 art. 4 allows), `false` is `tdm-reservation: 0`; `policy` is `tdm-policy`, where the
 * terms for a mining licence are published (only meaningful with a reservation).
 */
export const TdmRights = z
  .object({
    reservation: z.boolean(),
    policy: httpUrl.optional(),
  })
  .strict()
  .refine((t) => t.policy === undefined || t.reservation, {
    message: 'a TDM policy applies only when mining rights are reserved (reservation: true)',
    path: ['policy'],
  })
export type TdmRights = z.infer<typeof TdmRights>

export const DatasetDescription = z
  .object({
    id: DatasetId,
    title: LocalizedText,
    description: LocalizedText,
    keywords: Keywords.default([]),
    /** Theme IRIs, e.g. the EU data themes (http://publications.europa.eu/resource/authority/data-theme/ENVI). */
    themes: z.array(iri).default([]),
    publisher: Agent,
    contactPoint: ContactPoint,
    license: iri,
    /** Places covered: IRIs (e.g. GeoNames, EU countries). */
    spatial: z.array(iri).default([]),
    temporal: TemporalCoverage.optional(),
    issued: date,
    modified: date,
    version: z.string().min(1).max(64).optional(),
    distributions: z.array(Distribution).min(1, 'expected at least one distribution'),
    /** The offers: ids of the policy files that govern this dataset. */
    policies: z.array(PolicyId).min(1, 'expected at least one policy id'),
    /** A catalog-visibility policy: requesters it does not allow never see the dataset. */
    visibility: PolicyId.optional(),
    /**
     * Catalog-visibility policies per offer (offer policy id → visibility policy id): requesters a
     * visibility policy does not allow do not see that offer; with no offer left, not the dataset.
     */
    offerVisibility: z.record(PolicyId, PolicyId).optional(),
    /** Text-and-data-mining reservation (W3C TDMRep), shown in the catalog entry and the DCAT-AP export. */
    tdm: TdmRights.optional(),
  })
  .strict()
  .refine((d) => Date.parse(d.modified) >= Date.parse(d.issued), { message: 'modified is before issued', path: ['modified'] })
  .superRefine((d, ctx) => {
    for (const offer of Object.keys(d.offerVisibility ?? {}))
      if (!d.policies.includes(offer))
        ctx.addIssue({ code: 'custom', message: `${offer} is not one of this dataset's policies`, path: ['offerVisibility', offer] })
  })
export type DatasetDescription = z.infer<typeof DatasetDescription>
export type DatasetDescriptionInput = z.input<typeof DatasetDescription>

/** Where a published dataset comes from: a steward's file (read-only through the API) or the API (stored). */
export type DatasetSource = { kind: 'file'; file: string } | { kind: 'api' }

/** Flattens a localized text into `[language | undefined, text]` pairs, languages in a stable order. */
export function textEntries(text: LocalizedText): Array<[string | undefined, string]> {
  if (typeof text === 'string') return [[undefined, text]]
  return Object.entries(text).sort(([a], [b]) => a.localeCompare(b))
}

export function keywordEntries(keywords: Keywords): Array<[string | undefined, string]> {
  if (Array.isArray(keywords)) return keywords.map((k) => [undefined, k])
  return Object.entries(keywords)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([lang, list]) => list.map((k): [string, string] => [lang, k]))
}

/** Media type → EU file-type code, for the common cases. */
export const fileTypeFor = (d: Pick<Distribution, 'mediaType' | 'format'>): string =>
  d.format ??
  (
    {
      'text/csv': 'CSV',
      'application/json': 'JSON',
      'application/ld+json': 'JSON_LD',
      'application/x-netcdf': 'NETCDF',
      'application/geo+json': 'GEOJSON',
      'application/zip': 'ZIP',
      'text/plain': 'TXT',
      'application/vnd.apache.parquet': 'PARQUET',
    } as Record<string, string>
  )[d.mediaType] ??
  'BIN'
