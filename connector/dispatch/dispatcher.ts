import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import { rowPlaceholders } from '../store/prepared.ts'
import type { Clock } from '../context.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { PeerAudience, TokenIssuer } from '../identity/types.ts'

/**
 * The outbox every protocol area sends its messages to peers through. A message is written in the
 * same transaction as the state change that caused it, and delivered once the caller `kick()`s
 * (after its own HTTP answer has gone out). Delivery is in order per process, with bounded
 * exponential retries (network errors, timeouts, 404, 408, 425, 429 and 5xx are retried: a peer may
 * not know a process for a moment). Pending messages survive a restart and resume on `start()`.
 */
export interface OutboundMessage {
  /** The area that handles the outcome, e.g. `negotiation` or `transfer`. */
  topic: string
  /** Messages with the same process id are delivered one at a time, in the order enqueued. */
  processId: string
  url: string
  body: unknown
  peer: PeerAudience
  /** Overrides the dispatcher's default. */
  maxAttempts?: number
  /** Not before this many milliseconds from now (e.g. a scripted pause). */
  delayMs?: number
}

export interface DispatchItem {
  id: string
  topic: string
  processId: string
  url: string
  body: unknown
  attempts: number
}

export interface DeliveredOutcome {
  item: DispatchItem
  status: number
  /** The peer's answer, parsed when it was JSON. */
  body: unknown
}

export interface FailedOutcome {
  item: DispatchItem
  /** Readable: what went wrong and after how many attempts. */
  reason: string
}

export interface DispatchHandler {
  /** Last-moment changes to what is sent (e.g. a pid that became known after the message was queued). */
  prepare?(item: DispatchItem): Promise<{ url: string; body: unknown }>
  delivered?(outcome: DeliveredOutcome): Promise<void>
  failed(outcome: FailedOutcome): Promise<void>
}

export interface Dispatcher {
  /** Writes a message to the outbox inside the caller's transaction; returns its id. */
  enqueue(tx: Db, message: OutboundMessage): Promise<string>
  /** Drops the pending messages of a process (e.g. once it ended). */
  cancel(tx: Db, processId: string): Promise<void>
  /** Delivers what is due now. Call it after the answer that caused the messages has gone out. */
  kick(): void
  handle(topic: string, handler: DispatchHandler): void
  /** Resumes pending messages from the store. */
  start(): void
  stop(): Promise<void>
  /** Resolves once nothing is in flight and nothing is due (tests, shutdown). */
  idle(): Promise<void>
}

export interface HttpAnswer {
  status: number
  body: unknown
}

/** How a message goes on the wire; replaced in tests. */
export type Send = (input: { url: string; body: unknown; authorization: string | undefined; timeoutMs: number }) => Promise<HttpAnswer>

export interface DispatcherOptions {
  store: Store
  clock: Clock
  logger: Logger
  tokenIssuer?: TokenIssuer
  /** How messages go out (the shared outbox sends through the connector's peer client). */
  send: Send
  /** Attempts per message before it fails (default 6). */
  maxAttempts?: number
  /** First retry delay in milliseconds, doubled each attempt (default 200). */
  baseDelayMs?: number
  maxDelayMs?: number
  timeoutMs?: number
  /** Messages in flight at once (default 64). */
  concurrency?: number
}

export const retryableStatus = (status: number) => status === 404 || status === 408 || status === 425 || status === 429 || status >= 500

/** The delay before attempt `attempt + 1`: base × 2^(attempt-1), capped. */
export const retryDelay = (attempt: number, baseDelayMs: number, maxDelayMs: number) =>
  Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1))

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { store, clock, logger } = options
  const t = store.tables.dispatches
  const send = options.send
  const maxAttempts = options.maxAttempts ?? 6
  const baseDelayMs = options.baseDelayMs ?? 200
  const maxDelayMs = options.maxDelayMs ?? 30_000
  const timeoutMs = options.timeoutMs ?? 10_000
  const concurrency = options.concurrency ?? 64
  const handlers = new Map<string, DispatchHandler>()
  const inFlight = new Map<string, Promise<void>>()
  let counter = 0
  let lastMillis = 0
  let running = false
  let scanning: Promise<void> | undefined
  let rescan = false
  let timer: NodeJS.Timeout | undefined
  let timerAt = Infinity
  let idleWaiters: Array<() => void> = []

  // Sortable ids: zero-padded milliseconds then a counter, so order per process is enqueue order.
  const nextId = () => {
    const now = Math.max(clock.now().getTime(), lastMillis)
    if (now !== lastMillis) {
      lastMillis = now
      counter = 0
    }
    counter += 1
    return `${now.toString().padStart(15, '0')}-${counter.toString().padStart(6, '0')}-${Math.random().toString(36).slice(2, 8)}`
  }

  const schedule = (at: number) => {
    if (!running || at >= timerAt) return
    if (timer) clearTimeout(timer)
    timerAt = at
    timer = setTimeout(() => {
      timer = undefined
      timerAt = Infinity
      kick()
    }, Math.max(0, at - clock.now().getTime()))
    timer.unref?.()
  }

  // A scan reads the outbox; it is only needed when something may have become deliverable: a
  // message was enqueued, a process's delivery ended while it had more waiting, or a retry is due.
  let dirty = true
  const blocked = new Set<string>()
  let soon: NodeJS.Immediate | undefined

  // A caller's kick follows a commit: what it enqueued is visible now even if a scan that ran
  // meanwhile missed it.
  function kick() {
    dirty = true
    wake()
  }

  function wake() {
    if (!running || !dirty) return checkIdle()
    if (scanning) {
      rescan = true
      return
    }
    // Kicks within one turn of the event loop share one scan.
    soon ??= setImmediate(() => {
      soon = undefined
      startScan()
    })
  }

  function startScan() {
    if (!running) return
    if (scanning) {
      rescan = true
      return
    }
    dirty = false
    scanning = scan()
      .catch((error) => logger.error('dispatch scan failed', { error }))
      .finally(() => {
        scanning = undefined
        if (rescan) {
          rescan = false
          startScan()
        } else checkIdle()
      })
  }

  // The worker's own statements, prepared once.
  let statements: ReturnType<typeof prepare> | undefined
  const prepare = () => ({
    pending: store.db.select().from(t).where(eq(t.status, 'pending')).orderBy(asc(t.id)).limit(500).prepare(),
    delivered: store.db
      .update(t)
      .set({ status: 'delivered', attempts: sql.placeholder('attempts') as unknown as number, updatedAt: sql.placeholder('at') as unknown as number, lastError: null })
      .where(eq(t.id, sql.placeholder('id')))
      .prepare(),
    insert: store.db.insert(t).values(rowPlaceholders(t) as never).prepare(),
  })
  const prepared = () => (statements ??= prepare())
  // On SQLite every flow shares one connection: a write outside a transaction would join whichever
  // transaction is open at that moment (and vanish if it rolls back). Queue it as its own.
  const write = (fn: (db: Db) => Promise<unknown>) => (store.dialect === 'sqlite' ? store.transaction(fn) : fn(store.db))

  // Delivered marks are written in batches, one transaction for all that end in one turn of the
  // event loop; until written, their rows are known delivered here and never sent again.
  const unflushed = new Map<string, { attempts: number; at: number; done: () => void; failed: (error: unknown) => void }>()
  let flushSoon: NodeJS.Immediate | undefined
  const markDelivered = (id: string, attempts: number) =>
    new Promise<void>((done, failed) => {
      unflushed.set(id, { attempts, at: clock.now().getTime(), done, failed })
      flushSoon ??= setImmediate(flush)
    })
  function flush() {
    flushSoon = undefined
    const batch = [...unflushed]
    write(async () => {
      for (const [id, mark] of batch) await prepared().delivered.execute({ attempts: mark.attempts, at: mark.at, id })
    }).then(
      () => {
        for (const [id, mark] of batch) {
          unflushed.delete(id)
          mark.done()
        }
      },
      (error) => {
        logger.error('dispatch: delivered marks not written; those messages may be sent again', { error })
        for (const [id, mark] of batch) {
          unflushed.delete(id)
          mark.failed(error)
        }
      },
    )
  }

  // Deliveries that end while a scan is between reading the outbox and walking it: that scan's
  // rows are stale for them and must not send them again.
  const activeScans = new Set<Set<string>>()

  async function scan() {
    const finished = new Set<string>()
    activeScans.add(finished)
    try {
      await walk(await prepared().pending.execute(), finished)
    } finally {
      activeScans.delete(finished)
    }
  }

  async function walk(rows: Array<typeof t.$inferSelect>, finished: Set<string>) {
    const now = clock.now().getTime()
    const seen = new Set<string>()
    let earliest = Infinity
    if (rows.length === 500) dirty = true
    for (const row of rows) {
      if (finished.has(row.id) || unflushed.has(row.id)) continue
      if (inFlight.has(row.processId)) blocked.add(row.processId)
      if (seen.has(row.processId) || inFlight.has(row.processId)) continue
      seen.add(row.processId)
      if (row.nextAttemptAt > now) {
        earliest = Math.min(earliest, row.nextAttemptAt)
        continue
      }
      if (inFlight.size >= concurrency) {
        dirty = true
        break
      }
      const run = deliver(row).finally(() => {
        for (const set of activeScans) set.add(row.id)
        inFlight.delete(row.processId)
        if (blocked.delete(row.processId)) dirty = true
        wake()
      })
      inFlight.set(row.processId, run)
    }
    if (earliest < Infinity) schedule(earliest)
  }

  async function deliver(row: typeof t.$inferSelect) {
    const attempts = row.attempts + 1
    const item: DispatchItem = { id: row.id, topic: row.topic, processId: row.processId, url: row.url, body: row.body, attempts }
    let answer: HttpAnswer | undefined
    let problem: string
    let retryable: boolean
    try {
      const peer: PeerAudience = { dspUrl: row.peerAddress, ...(row.peerId ? { participantId: row.peerId } : {}) }
      const authorization = options.tokenIssuer ? await options.tokenIssuer.authorizationFor(peer) : undefined
      const handler = handlers.get(row.topic)
      const outgoing = handler?.prepare ? await handler.prepare(item) : { url: row.url, body: row.body }
      item.url = outgoing.url
      item.body = outgoing.body
      answer = await send({ url: outgoing.url, body: outgoing.body, authorization, timeoutMs })
      if (answer.status >= 200 && answer.status < 300) {
        await markDelivered(row.id, attempts)
        await handlers.get(row.topic)?.delivered?.({ item, status: answer.status, body: answer.body })
        return
      }
      problem = `the peer answered ${answer.status}${describeBody(answer.body)}`
      retryable = retryableStatus(answer.status)
    } catch (error) {
      problem = `the peer could not be reached (${errorText(error)})`
      retryable = true
    }
    const limit = row.maxAttempts
    if (retryable && attempts < limit) {
      const next = clock.now().getTime() + retryDelay(attempts, baseDelayMs, maxDelayMs)
      await write((db) =>
        db
          .update(t)
          .set({ attempts, nextAttemptAt: next, lastError: problem, updatedAt: clock.now().getTime() })
          .where(and(eq(t.id, row.id), eq(t.status, 'pending'))),
      )
      logger.debug('dispatch retry scheduled', { id: row.id, attempts, problem })
      schedule(next)
      return
    }
    const reason = retryable
      ? `delivery to ${row.url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${problem}`
      : `delivery to ${row.url} was refused: ${problem}`
    await write((db) => db.update(t).set({ status: 'failed', attempts, lastError: reason, updatedAt: clock.now().getTime() }).where(eq(t.id, row.id)))
    logger.warn('dispatch failed', { id: row.id, topic: row.topic, processId: row.processId, reason })
    try {
      await handlers.get(row.topic)?.failed({ item, reason })
    } catch (error) {
      logger.error('dispatch failure handler failed', { error, id: row.id })
    }
  }

  function checkIdle() {
    if (scanning || soon || inFlight.size > 0 || idleWaiters.length === 0) return
    // Nothing in flight: idle unless something is due before long (a retry timer).
    if (timerAt !== Infinity) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  return {
    async enqueue(tx, message) {
      dirty = true
      const id = nextId()
      const now = clock.now().getTime()
      const row = {
        id,
        topic: message.topic,
        processId: message.processId,
        url: message.url,
        body: message.body,
        peerId: message.peer.participantId ?? null,
        peerAddress: message.peer.dspUrl,
        status: 'pending',
        attempts: 0,
        maxAttempts: message.maxAttempts ?? maxAttempts,
        nextAttemptAt: now + (message.delayMs ?? 0),
        lastError: null,
        createdAt: now,
        updatedAt: now,
      }
      // The prepared insert on the store's own handle; inside a PostgreSQL transaction, the built one.
      if (tx === store.db) await prepared().insert.execute(row)
      else await tx.insert(t).values(row)
      return id
    },
    async cancel(tx, processId) {
      await tx
        .update(t)
        .set({ status: 'cancelled', updatedAt: clock.now().getTime() })
        .where(and(eq(t.processId, processId), inArray(t.status, ['pending'])))
    },
    kick,
    handle(topic, handler) {
      handlers.set(topic, handler)
    },
    start() {
      running = true
      dirty = true
      kick()
    },
    async stop() {
      running = false
      if (soon) clearImmediate(soon)
      soon = undefined
      if (timer) clearTimeout(timer)
      timer = undefined
      timerAt = Infinity
      await scanning
      await Promise.allSettled([...inFlight.values()])
    },
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve)
        checkIdle()
      })
    },
  }
}

const errorText = (error: unknown) => {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause
  if (cause?.code) return cause.code
  const code = (error as { code?: unknown })?.code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
  if ((error as Error)?.name === 'TimeoutError') return 'timed out'
  return (error as Error)?.message ?? String(error)
}

const describeBody = (body: unknown) => {
  if (body === undefined) return ''
  const reason = (body as { reason?: unknown })?.reason
  if (Array.isArray(reason) && reason.length > 0) return `: ${JSON.stringify(reason).slice(0, 300)}`
  return `: ${JSON.stringify(body).slice(0, 300)}`
}
