import { z } from 'zod'

export interface CrawlerOptions {
  /** Time between two crawls of a peer, in milliseconds. */
  intervalMs: number
  /** Spread of the interval, as a fraction (0.1 = ±10 %), so peers are not all crawled at once. */
  jitter: number
  /** Peers crawled at the same time. */
  concurrency: number
  /** Longest time one peer's whole crawl (all pages) may take, in milliseconds. */
  timeoutMs: number
  /** Largest accepted catalog page, in bytes. */
  maxPageBytes: number
  /** Most pages and datasets read from one peer in one crawl. */
  maxPages: number
  maxDatasets: number
  /** Backoff after failures: base × 2^(failures − 1), at most max (never more than the interval × 8). */
  backoffBaseMs: number
  backoffMaxMs: number
  /** Ask peers for datasets modified since our last crawl (see README); a full crawl every `fullCrawlEvery`. */
  incremental: boolean
  /**
   * Ask a peer that gave a change token (a Passerelle) for the changes since it, deletions included;
   * every `fullCrawlEvery`-th crawl is a full one all the same.
   */
  changeFeed: boolean
  fullCrawlEvery: number
  /** How often the loop looks for due peers. */
  tickMs: number
}

export const defaultCrawlerOptions: CrawlerOptions = {
  intervalMs: 5 * 60_000,
  jitter: 0.1,
  concurrency: 4,
  timeoutMs: 60_000,
  maxPageBytes: 8 * 1024 * 1024,
  maxPages: 1000,
  maxDatasets: 50_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 60 * 60_000,
  incremental: false,
  changeFeed: true,
  fullCrawlEvery: 12,
  tickMs: 1000,
}

/** A peer named in the configuration: its DSP base URL, or a DID whose document names a DSP service. */
export const FederationPeerConfig = z
  .object({
    dspUrl: z.url({ protocol: /^https?$/ }).optional(),
    did: z
      .string()
      .regex(/^did:[a-z0-9]+:.+/, 'expected a DID (did:method:…)')
      .optional(),
    name: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((p) => p.dspUrl !== undefined || p.did !== undefined, { message: 'a peer needs dspUrl or did' })
export type FederationPeerConfig = z.infer<typeof FederationPeerConfig>

const ms = z.coerce.number().int().positive()

/** The `federation` section of the configuration. Durations are milliseconds. */
export const FederationConfig = z
  .object({
    /** Crawl peers in the background. Off: peers and search still answer from what is stored. */
    enabled: z.boolean().default(true),
    peers: z.array(FederationPeerConfig).default([]),
    /** A data-space registry listing participants (format in connector/federation/README.md). */
    registryUrl: z.url({ protocol: /^https?$/ }).optional(),
    interval: ms.default(defaultCrawlerOptions.intervalMs),
    jitter: z.coerce.number().min(0).max(0.5).default(defaultCrawlerOptions.jitter),
    concurrency: z.coerce.number().int().min(1).max(64).default(defaultCrawlerOptions.concurrency),
    /** The longest one peer's whole crawl may take. */
    timeout: ms.default(defaultCrawlerOptions.timeoutMs),
    maxPageBytes: z.coerce.number().int().min(1024).default(defaultCrawlerOptions.maxPageBytes),
    maxDatasetsPerPeer: z.coerce.number().int().min(1).default(defaultCrawlerOptions.maxDatasets),
    /** Ask peers for changes since the last crawl (a full crawl every `fullCrawlEvery` crawls). */
    incremental: z.boolean().default(false),
    /** Ask a peer that gives change tokens (a Passerelle) for its changes since the last crawl, deletions included. */
    changeFeed: z.boolean().default(true),
    fullCrawlEvery: z.coerce.number().int().min(1).default(defaultCrawlerOptions.fullCrawlEvery),
  })
  .strict()
export type FederationConfig = z.infer<typeof FederationConfig>

export const defaultFederationConfig: FederationConfig = FederationConfig.parse({})

export const crawlerOptionsFrom = (config: FederationConfig): CrawlerOptions => ({
  ...defaultCrawlerOptions,
  intervalMs: config.interval,
  jitter: config.jitter,
  concurrency: config.concurrency,
  timeoutMs: config.timeout,
  maxPageBytes: config.maxPageBytes,
  maxDatasets: config.maxDatasetsPerPeer,
  incremental: config.incremental,
  changeFeed: config.changeFeed,
  fullCrawlEvery: config.fullCrawlEvery,
  backoffMaxMs: Math.max(config.interval * 8, defaultCrawlerOptions.backoffBaseMs),
  tickMs: Math.min(defaultCrawlerOptions.tickMs, config.interval),
})
