import { randomUUID } from 'node:crypto'
import { and, asc, eq, inArray, isNull, lte, notInArray, or, sql } from 'drizzle-orm'
import type { Db, Store } from '../store/store.ts'
import type { Clock } from '../clock.ts'
import type { Logger } from '../telemetry/logger.ts'
import { currentTraceparent, withTraceparent } from '../telemetry/trace-context.ts'
import type { PeerAudience, TokenIssuer } from '../identity/types.ts'
import type { PasserelleError } from '../errors.ts'
import { isEgressRefusal } from '../http/peer-client.ts'
import { failpoint } from '../process/failpoint.ts'
import { jitteredDelay, retryableStatus, retryDelay } from './backoff.ts'
import { lazy, rowPlaceholders } from '../store/prepared.ts'

/**
 * The outbox every protocol area sends its messages to peers through. A message is written in the
 * same transaction as the state change that caused it, and delivered once the caller `kick()`s
 * (after its own HTTP answer has gone out). Delivery is in order per process, with retries spread
 * over a window by exponential backoff with jitter (network errors, timeouts, 404, 408, 425, 429
 * and 5xx are retried: a peer may not know a process for a moment, or restart). Pending messages
 * survive a restart and resume on `start()`.
 *
 * Replicas (processes on one PostgreSQL database) share the outbox: a worker claims the head row
 * of a process with a lease (`FOR UPDATE SKIP LOCKED`, owner, token, expiry), renews it while the
 * delivery runs and writes the outcome only while the lease is still its own (fencing); a replica
 * that dies leaves rows that another takes over once their lease expired. An attempt is counted
 * when it is claimed, so every replica counts it once. Any row is claimed the same way, whatever
 * it holds.
 *
 * Fairness: each peer has a limit of deliveries in flight, and a circuit breaker: a peer that did
 * not answer in time several times in a row is left alone for a while (its messages are not
 * claimed), then probed with one message.
 */
export interface OutboundMessage {
  /** The area that handles the outcome, e.g. `negotiation` or `transfer`. */
  topic: string
  /** Messages with the same process id are delivered one at a time, in the order enqueued. */
  processId: string
  url: string
  body: unknown
  peer: PeerAudience
  /** Overrides the dispatcher's default bound on attempts (the retry window bounds them anyway). */
  maxAttempts?: number
  /** Overrides the dispatcher's retry window. */
  retryWindowMs?: number
  /** Not before this many milliseconds from now (e.g. a scripted pause). */
  delayMs?: number
}

/**
 * A local step that must follow a state change (a decision, a verification, a follow-up): written
 * in the same transaction as the change, it waits its turn behind the process's earlier messages
 * and is run by the topic handler's `run`. It survives a restart like a message; failing to run
 * (an exception) is retried like a failed delivery.
 */
export interface LocalStep {
  topic: string
  processId: string
  /** What to do, e.g. `react`; the handler reads it. */
  step: string
  /** What the step needs to run after a restart (stored as JSON). */
  input?: unknown
  maxAttempts?: number
  delayMs?: number
}

export interface DispatchItem {
  id: string
  /** `step` for a local step (its body is `{ step, input }`, its url empty). */
  kind?: 'message' | 'step'
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
  /** Runs a local step (see `LocalStep`); throwing retries it later. */
  run?(item: DispatchItem & { body: { step: string; input: unknown } }): Promise<void>
}

export interface Dispatcher {
  /** Writes a message to the outbox inside the caller's transaction; returns its id. */
  enqueue(tx: Db, message: OutboundMessage): Promise<string>
  /** Writes a local step to the outbox inside the caller's transaction; returns its id. */
  enqueueStep(tx: Db, step: LocalStep): Promise<string>
  /** Drops the pending messages of a process (e.g. once it ended). */
  cancel(tx: Db, processId: string): Promise<void>
  /** Whether a message or step of a process still waits to be delivered. */
  hasPending(db: Db, processId: string): Promise<boolean>
  /** Delivers what is due now. Call it after the answer that caused the messages has gone out. */
  kick(): void
  handle(topic: string, handler: DispatchHandler): void
  /** Resumes pending messages from the store. */
  start(): void
  stop(): Promise<void>
  /** Resolves once nothing is in flight and nothing is due (tests, shutdown). */
  idle(): Promise<void>
  /** The peers this replica delivers to: in flight, and their circuit breaker. */
  peers(): PeerDeliveryState[]
}

export interface PeerDeliveryState {
  peerAddress: string
  inFlight: number
  /** `closed`: deliveries go out; `open`: the peer is left alone until `retryAt`; `half-open`: one probe. */
  circuit: 'closed' | 'open' | 'half-open'
  /** Deliveries that could not reach the peer, in a row. */
  consecutiveFailures: number
  /** When the circuit is open: when the peer is probed (ISO 8601). */
  retryAt?: string
  lastError?: string
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
  /** Attempts per message before it fails; unbounded by default (the retry window ends retries). */
  maxAttempts?: number
  /** How long a message is retried, from its enqueue, in milliseconds (default 5 minutes). */
  retryWindowMs?: number
  /** First retry delay in milliseconds, doubled each attempt (default 200). */
  baseDelayMs?: number
  /** The longest delay between two attempts (default 30 s). */
  maxDelayMs?: number
  timeoutMs?: number
  /** Messages in flight at once (default 64). */
  concurrency?: number
  /** Messages in flight at once towards one peer (default 8). */
  perPeerConcurrency?: number
  /** Deliveries in a row that a peer did not answer in time that open its circuit (default 5). */
  breakerThreshold?: number
  /** How long an open circuit leaves its peer alone before a probe, in milliseconds (default 30 s). */
  breakerOpenMs?: number
  /** How long a claim holds a row without renewal, in milliseconds (default 10 s, at most 10 s). */
  leaseMs?: number
  /**
   * How often the outbox is read in full without a wake-up, in milliseconds (default 1 s):
   * notifications are hints, and a lease left by a replica that died is taken over this soon after
   * it expired.
   */
  safetyScanMs?: number
  /** Randomness for the jitter of retry delays (in [0, 1)). */
  random?: () => number
  /** This replica's name in the leases it holds (default: a random one per dispatcher). */
  owner?: string
}

/** Why a message was not sent to an address the egress policy refuses (a callback, or a peer we named). */
export const peerAddressRefusedMessage = "the peer's address is not allowed by the egress policy"

export { retryableStatus } from './backoff.ts'

export { jitteredDelay, retryDelay }

/** The signal channel that tells other replicas the outbox has work. */
const outboxChannel = 'passerelle_outbox'
/** A row's attempts when no bound is configured (the column is not null). */
const unbounded = 1_000_000_000

type Row = Store['tables']['dispatches']['$inferSelect']

interface PeerState {
  inFlight: number
  failures: number
  openUntil: number
  lastError?: string
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { store, clock, logger } = options
  const t = store.tables.dispatches
  const send = options.send
  const maxAttempts = options.maxAttempts ?? unbounded
  const retryWindowMs = options.retryWindowMs ?? 300_000
  const baseDelayMs = options.baseDelayMs ?? 200
  const maxDelayMs = options.maxDelayMs ?? 30_000
  const timeoutMs = options.timeoutMs ?? 10_000
  const concurrency = options.concurrency ?? 64
  const perPeer = options.perPeerConcurrency ?? 8
  const breakerThreshold = options.breakerThreshold ?? 5
  const breakerOpenMs = options.breakerOpenMs ?? 30_000
  const leaseMs = Math.min(options.leaseMs ?? 10_000, 10_000)
  const safetyScanMs = options.safetyScanMs ?? 1000
  const random = options.random ?? Math.random
  const owner = options.owner ?? `replica-${randomUUID()}`
  const handlers = new Map<string, DispatchHandler>()
  /** Claimed rows being run, by id, with the token of their claim. */
  const inFlight = new Map<string, { token: string; run: Promise<void> }>()
  const peerStates = new Map<string, PeerState>()
  let claims = 0
  let counter = 0
  let lastMillis = 0
  let running = false
  let scanning: Promise<void> | undefined
  let rescan = false
  let timer: NodeJS.Timeout | undefined
  let timerAt = Infinity
  let safetyTimer: NodeJS.Timeout | undefined
  let renewTimer: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined
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

  // Counts the wake-ups scheduled, so that a full scan replaces only what it saw the reasons for.
  let schedules = 0
  const schedule = (at: number) => {
    schedules++
    if (!running || at >= timerAt) return
    if (timer) clearTimeout(timer)
    timerAt = at
    timer = setTimeout(
      () => {
        timer = undefined
        timerAt = Infinity
        // A timer may fire a millisecond early by the clock: a scan then would find the row not due yet.
        if (clock.now().getTime() < at) return schedule(at)
        // A later retry whose schedule came while this timer was set was folded into it: the full
        // scan reads when the next one is due (else it would wait for the safety scan).
        fullScan = true
        kick()
      },
      Math.max(0, at - clock.now().getTime()),
    )
    timer.unref?.()
  }

  let dirty = true
  let fullScan = true
  let soon: NodeJS.Immediate | undefined
  // Other replicas hear of new work once per turn of the event loop at most.
  let announced = false

  // A caller's kick follows a commit: what it enqueued is visible now even if a scan that ran
  // meanwhile missed it. The other replicas are told too (they may have room when we have none).
  function kick() {
    if (!announced && running) {
      announced = true
      setImmediate(() => {
        announced = false
        store.signals.publish(outboxChannel, 'work')
      })
    }
    wakeUp()
  }

  function wakeUp() {
    dirty = true
    wake()
  }

  function wake() {
    if (!running || !dirty) return checkIdle()
    if (scanning) {
      rescan = true
      return
    }
    // Wake-ups within one turn of the event loop share one scan.
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
    const full = fullScan
    fullScan = false
    scanning = scan(full)
      .catch((error) => {
        logger.error('dispatch scan failed', { error })
        // The database may be away for a moment: look again later.
        schedule(clock.now().getTime() + 1000)
      })
      .finally(() => {
        scanning = undefined
        if (rescan) {
          rescan = false
          startScan()
        } else checkIdle()
      })
  }

  // On SQLite every flow shares one connection: a write outside a transaction would join whichever
  // transaction is open at that moment (and vanish if it rolls back). Queue it as its own.
  // On PostgreSQL the worker's own connections: claims and marks never wait behind requests.
  const write = <T>(fn: (db: Db) => Promise<T>): Promise<T> => (store.dialect === 'sqlite' ? store.transaction(fn) : fn(store.workerDb))

  // Building a drizzle query costs more than running it on SQLite: the insert is prepared once.
  const insertStatement = lazy(() =>
    store.db
      .insert(t)
      .values(rowPlaceholders(t) as never)
      .prepare(),
  )

  const peerState = (address: string) => {
    let state = peerStates.get(address)
    if (!state) peerStates.set(address, (state = { inFlight: 0, failures: 0, openUntil: 0 }))
    return state
  }
  /** May a delivery to this peer start now? (A local step has no peer: always.) */
  const peerHasRoom = (address: string | null, now: number) => {
    if (!address) return true
    const state = peerStates.get(address)
    if (!state) return true
    if (state.failures >= breakerThreshold) {
      if (now < state.openUntil) return false
      return state.inFlight === 0 // half-open: one probe at a time
    }
    return state.inFlight < perPeer
  }

  /** How many more deliveries a peer may start now (a peer left alone is excluded from claims). */
  const peerRoom = (state: PeerState) => (state.failures >= breakerThreshold ? 1 : perPeer) - state.inFlight

  // Claims: the head (oldest pending row) of each process that is due, not leased by anyone (or
  // whose lease expired), towards a peer with room, and no more of a peer's rows than its room:
  // a row claimed and handed back would count an attempt for nothing (kept if the replica dies in
  // between, seen by whoever reads the outbox meanwhile). PostgreSQL skips rows another replica is
  // claiming at the same moment.
  async function claim(now: number, limit: number, excluded: string[]): Promise<Row[]> {
    const token = `${owner}/${++claims}`
    return write(async (db) => {
      const earlier = sql`not exists (select 1 from ${t} as earlier where earlier.process_id = ${t.processId} and earlier.status = 'pending' and earlier.id < ${t.id})`
      const expired = sql`(${t.retryUntil} is not null and ${t.retryUntil} <= ${now})`
      let candidates = db
        .select({ id: t.id, peer: sql<string>`${t.peerAddress}`.as('peer'), expired: sql<boolean>`${expired}`.as('expired') })
        .from(t)
        .where(
          and(
            eq(t.status, 'pending'),
            lte(t.nextAttemptAt, now),
            or(isNull(t.leaseUntil), lte(t.leaseUntil, now)),
            // A peer left alone still gets the messages whose window is over: they fail unsent.
            excluded.length > 0 ? or(isNull(t.peerAddress), notInArray(t.peerAddress, excluded), lte(t.retryUntil, now)) : undefined,
            earlier,
          ),
        )
        .orderBy(asc(t.id))
        .limit(limit)
      if (store.dialect === 'postgres')
        candidates = (candidates as unknown as { for(s: string, o: object): typeof candidates }).for('update', { skipLocked: true })
      // A peer's room: what it has left when it has deliveries in flight (or is probed), else the
      // limit. Steps (no peer) and rows whose window is over (not counted against it) are not limited.
      const partial = [...peerStates].filter(([address, state]) => (state.inFlight > 0 || state.failures >= breakerThreshold) && !excluded.includes(address))
      const room =
        partial.length === 0
          ? sql`${perPeer}`
          : sql`case c.peer ${sql.join(
              partial.map(([address, state]) => sql`when ${address} then ${peerRoom(state)}`),
              sql` `,
            )} else ${perPeer} end`
      const allowed = sql`select c.id from (select c.id, c.peer, c.expired, row_number() over (partition by c.peer, c.expired order by c.id) as n from (${candidates}) as c) as c where c.peer = '' or c.expired or c.n <= ${room}`
      return db
        .update(t)
        .set({ leaseOwner: owner, leaseToken: token, leaseUntil: now + leaseMs, attempts: sql`${t.attempts} + 1` as unknown as number })
        .where(sql`${t.id} in (${allowed})`)
        .returning()
    })
  }

  /** Hands back rows claimed but not run (their peer had no room after all); their attempt is not counted. */
  async function release(rows: Row[]) {
    if (rows.length === 0) return
    await write((db) =>
      db
        .update(t)
        .set({ leaseOwner: null, leaseToken: null, leaseUntil: null, attempts: sql`${t.attempts} - 1` as unknown as number })
        .where(
          and(
            inArray(
              t.id,
              rows.map((row) => row.id),
            ),
            eq(t.leaseOwner, owner),
            inArray(t.leaseToken, [...new Set(rows.map((row) => row.leaseToken!))]),
          ),
        ),
    )
  }

  // Our own leases end with their delivery (which wakes the outbox): only the others' are waited for.
  const othersLease = (now: number) => sql`(${t.leaseUntil} > ${now} and ${t.leaseOwner} <> ${owner})`

  /** The earliest moment something not claimable now may become so (a retry, a lease that expires). */
  async function nextDue(now: number): Promise<number> {
    const [row] = await store.workerDb
      .select({
        at: sql<number | null>`min(case when ${othersLease(now)} then ${t.leaseUntil} else ${t.nextAttemptAt} end)`,
      })
      .from(t)
      .where(and(eq(t.status, 'pending'), or(sql`${t.nextAttemptAt} > ${now}`, othersLease(now))))
    const at = row?.at
    return at === null || at === undefined ? Infinity : Number(at)
  }

  async function scan(full: boolean) {
    const now = clock.now().getTime()
    const scheduledBefore = schedules
    const room = concurrency - inFlight.size
    if (room <= 0) {
      dirty = true
      return
    }
    const excluded = [...peerStates].filter(([address]) => !peerHasRoom(address, now)).map(([address]) => address)
    const rows = await claim(now, room, excluded)
    const refused: Row[] = []
    for (const row of rows) {
      if (inFlight.has(row.id)) {
        refused.push(row)
        continue
      }
      // The claim took no more than its peer's room. A circuit that opened while it ran does not
      // hold the row back: its attempt is counted (taking it back would count one never made, for
      // a moment, or for good if this replica died), and a row whose window is over fails unsent.
      const expired = row.retryUntil !== null && row.retryUntil <= now
      start(row, expired && !peerHasRoom(row.peerAddress, clock.now().getTime()))
    }
    await release(refused)
    if (refused.length > 0 || rows.length === room) dirty = true
    // Leases of our own renew; those of others (a replica that died) and retries come due.
    // The full scan (at start, then every `safetyScanMs`) also finds when the rest comes due: retries
    // written by other replicas, leases of a replica that died. Ours are scheduled as they are written.
    if (!full) return
    const at = await nextDue(now)
    // The outbox as read now replaces what earlier scans expected (a lease since released), unless
    // a retry was scheduled meanwhile (its row may have been written after this scan read).
    if (schedules === scheduledBefore) {
      if (timer) clearTimeout(timer)
      timer = undefined
      timerAt = Infinity
    }
    if (at < Infinity) schedule(Math.max(at, now + 5))
    // A peer whose circuit closes again needs a scan then.
    for (const state of peerStates.values()) if (state.failures >= breakerThreshold && state.openUntil > now) schedule(state.openUntil)
  }

  function start(row: Row, unsent: boolean) {
    const token = row.leaseToken!
    const peer = row.peerAddress ? peerState(row.peerAddress) : undefined
    if (peer) {
      peer.inFlight++
    }
    const run = withTraceparent(row.traceparent, () => deliver(row, token, unsent))
      .catch((error) => logger.error('dispatch: outcome not recorded', { error, id: row.id }))
      .finally(() => {
        if (peer) peer.inFlight--
        inFlight.delete(row.id)
        // The next message of the process, or of the peer, may go now.
        wakeUp()
      })
    inFlight.set(row.id, { token, run })
    renewTimer ??= setInterval(renew, Math.max(100, Math.floor(leaseMs / 3)))
    renewTimer.unref?.()
  }

  // One statement renews every lease this replica holds; a row no longer ours was taken over.
  const lost = new Set<string>()
  let renewing = false
  async function renew() {
    if (inFlight.size === 0) {
      clearInterval(renewTimer)
      renewTimer = undefined
      return
    }
    if (renewing) return
    renewing = true
    const ids = [...inFlight.keys()]
    try {
      const kept = await write((db) =>
        db
          .update(t)
          .set({ leaseUntil: clock.now().getTime() + leaseMs })
          .where(and(inArray(t.id, ids), eq(t.leaseOwner, owner), eq(t.status, 'pending')))
          .returning({ id: t.id, leaseToken: t.leaseToken }),
      )
      const ours = new Map(kept.map((row) => [row.id, row.leaseToken]))
      for (const id of ids) {
        const entry = inFlight.get(id)
        if (entry && ours.has(id) && ours.get(id) !== entry.token) lost.add(id)
        if (entry && !ours.has(id)) lost.add(id)
      }
    } catch (error) {
      logger.warn('dispatch: leases not renewed', { error: (error as Error).message })
    } finally {
      renewing = false
    }
  }

  const leaseLost = (row: Row) => logger.warn('dispatch: lease lost; the outcome is left to the replica that holds the message now', { id: row.id })

  /**
   * Records an outcome only while the claim is still ours (owner and token): a replica that lost
   * its lease (it stalled, another took the row over) changes nothing. True when it held.
   */
  async function settle(row: Row, token: string, values: Partial<Row>): Promise<boolean> {
    const updated = await write((db) =>
      db
        .update(t)
        .set({ ...values, leaseOwner: null, leaseToken: null, leaseUntil: null, updatedAt: clock.now().getTime() })
        .where(and(eq(t.id, row.id), eq(t.leaseOwner, owner), eq(t.leaseToken, token), eq(t.status, 'pending')))
        .returning({ id: t.id }),
    )
    if (updated.length === 0) leaseLost(row)
    return updated.length > 0
  }

  // Delivered marks are written in batches, one statement for all that end in one turn of the
  // event loop; each is fenced by its claim.
  const unflushed = new Map<string, { token: string; at: number; done: (held: boolean) => void; failed: (error: unknown) => void }>()
  let flushScheduled = false
  const markDelivered = (id: string, token: string) =>
    new Promise<boolean>((done, failed) => {
      unflushed.set(id, { token, at: clock.now().getTime(), done, failed })
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    })
  function flush() {
    flushScheduled = false
    const batch = [...unflushed]
    unflushed.clear()
    const tokens = [...new Set(batch.map(([, mark]) => mark.token))]
    write((db) =>
      db
        .update(t)
        .set({ status: 'delivered', leaseOwner: null, leaseToken: null, leaseUntil: null, lastError: null, updatedAt: clock.now().getTime() })
        .where(
          and(
            inArray(
              t.id,
              batch.map(([id]) => id),
            ),
            eq(t.leaseOwner, owner),
            inArray(t.leaseToken, tokens),
            eq(t.status, 'pending'),
          ),
        )
        .returning({ id: t.id, leaseToken: t.leaseToken }),
    ).then(
      (rows) => {
        const held = new Set(rows.map((row) => row.id))
        for (const [id, mark] of batch) mark.done(held.has(id))
      },
      (error) => {
        logger.error('dispatch: delivered marks not written; those messages may be sent again', { error })
        for (const [, mark] of batch) mark.failed(error)
      },
    )
  }

  async function deliver(row: Row, token: string, unsent: boolean) {
    // The claim counted an attempt; one that fails unsent is not one.
    const attempts = unsent ? row.attempts - 1 : row.attempts
    const item: DispatchItem = { id: row.id, topic: row.topic, processId: row.processId, url: row.url, body: row.body, attempts }
    let answer: HttpAnswer | undefined
    let problem: string
    let retryable: boolean
    const peer = row.peerAddress ? peerState(row.peerAddress) : undefined
    if (unsent) {
      // Its window ended while its peer was left alone: not sent again (the detail is in the log).
      problem = 'the peer could not be reached'
      retryable = true
    } else if (row.kind === 'step') {
      const outcome = await runStep(row, item, token)
      if (outcome === 'done') return
      problem = outcome.problem
      retryable = true
    } else
      try {
        const audience: PeerAudience = { dspUrl: row.peerAddress, ...(row.peerId ? { participantId: row.peerId } : {}) }
        const authorization = options.tokenIssuer ? await options.tokenIssuer.authorizationFor(audience) : undefined
        const handler = handlers.get(row.topic)
        const outgoing = handler?.prepare ? await handler.prepare(item) : { url: row.url, body: row.body }
        item.url = outgoing.url
        item.body = outgoing.body
        answer = await send({ url: outgoing.url, body: outgoing.body, authorization, timeoutMs })
        if (peer) reached(peer)
        if (answer.status >= 200 && answer.status < 300) {
          failpoint(`sent:${(row.body as { '@type'?: string })?.['@type']}`)
          if (lost.delete(row.id) || !(await markDelivered(row.id, token))) return leaseLost(row)
          await handlers.get(row.topic)?.delivered?.({ item, status: answer.status, body: answer.body })
          return
        }
        problem = `the peer answered ${answer.status}${describeBody(answer.body)}`
        retryable = retryableStatus(answer.status)
      } catch (error) {
        // A refused address is not retried; neither it nor a network error is described in the
        // reason (a timeline a peer may read): the detail goes to the log.
        const refused = isEgressRefusal(error)
        problem = refused ? peerAddressRefusedMessage : 'the peer could not be reached'
        retryable = !refused
        // Only a peer that holds deliveries without answering is backed off: one that refuses at
        // once costs nothing to others and is retried on its own schedule.
        if (peer && !refused && answer === undefined && isTimeout(error)) unreachable(peer, errorText(error))
        logger.info(refused ? 'dispatch: callback address refused by the egress policy' : 'dispatch: peer not reached', {
          id: row.id,
          url: row.url,
          detail: refused ? (error as PasserelleError).details?.egress : errorText(error),
        })
      }
    if (lost.delete(row.id)) return leaseLost(row)
    const now = clock.now().getTime()
    const next = now + jitteredDelay(attempts, baseDelayMs, maxDelayMs, random())
    const until = row.retryUntil ?? Infinity
    if (retryable && attempts < row.maxAttempts && next <= until) {
      if (await settle(row, token, { nextAttemptAt: next, lastError: problem })) {
        logger.debug('dispatch retry scheduled', { id: row.id, attempts, problem })
        schedule(next)
      }
      return
    }
    const tried = `${attempts} attempt${attempts === 1 ? '' : 's'}`
    const reason =
      row.kind === 'step'
        ? `step failed after ${tried}: ${problem}`
        : retryable
          ? `delivery to ${row.url} failed after ${tried}${row.retryUntil !== null && next > until ? ` within ${describeWindow(until - row.createdAt)}` : ''}: ${problem}`
          : `delivery to ${row.url} was refused: ${problem}`
    if (!(await settle(row, token, { status: 'failed', attempts, lastError: reason }))) return
    logger.warn('dispatch failed', { id: row.id, topic: row.topic, processId: row.processId, reason })
    try {
      await handlers.get(row.topic)?.failed({ item, reason })
    } catch (error) {
      logger.error('dispatch failure handler failed', { error, id: row.id })
    }
  }

  // A local step: the topic handler runs it, and it is marked done like a delivered message (under
  // the same lease: a replica that lost it records nothing, and the step's own checks make a second
  // run do nothing).
  async function runStep(row: Row, item: DispatchItem, token: string): Promise<'done' | { problem: string }> {
    item.kind = 'step'
    try {
      const run = handlers.get(row.topic)?.run
      if (!run) throw new Error(`no step runner for ${row.topic}`)
      await run(item as DispatchItem & { body: { step: string; input: unknown } })
    } catch (error) {
      logger.warn('dispatch: step failed', { id: row.id, topic: row.topic, processId: row.processId, error })
      return { problem: errorText(error) }
    }
    if (lost.delete(row.id) || !(await markDelivered(row.id, token))) leaseLost(row)
    return 'done'
  }

  function reached(peer: PeerState) {
    peer.failures = 0
    peer.openUntil = 0
    peer.lastError = undefined
  }
  function unreachable(peer: PeerState, detail: string) {
    peer.failures++
    peer.lastError = detail
    if (peer.failures >= breakerThreshold) {
      // Each failed probe leaves the peer alone as long again (at most ten times the base).
      const rounds = Math.min(10, peer.failures - breakerThreshold + 1)
      peer.openUntil = clock.now().getTime() + breakerOpenMs * rounds
      schedule(peer.openUntil)
    }
  }

  function checkIdle() {
    if (scanning || soon || inFlight.size > 0 || unflushed.size > 0 || idleWaiters.length === 0) return
    // Nothing in flight: idle unless something is due before long (a retry timer).
    if (timerAt !== Infinity) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  // On PostgreSQL each statement is a round trip: the rows a batch of transactions enqueues are
  // held for its end and written with one statement, inside it (Store.deferToCommit). A row held
  // is still the transaction's own: `cancel` in the same transaction cancels it.
  const heldRows = new WeakMap<Db, Set<Row>>()
  const heldKey = {}
  async function writeRows(db: Db, rows: Row[]) {
    heldRows.delete(db)
    if (rows.length > 0) await db.insert(t).values(rows)
  }
  async function insertRow(tx: Db, row: Row) {
    if (store.dialect === 'postgres') {
      let held = heldRows.get(tx)
      if (!held) heldRows.set(tx, (held = new Set()))
      held.add(row)
      return store.deferToCommit(tx, heldKey, row, writeRows, { early: true })
    }
    // The prepared insert on the store's own handle (every SQLite transaction).
    if (tx === store.db) await insertStatement().execute(row)
    else await tx.insert(t).values(row)
  }

  return {
    async enqueue(tx, message) {
      dirty = true
      const id = nextId()
      const now = clock.now().getTime()
      const row = {
        id,
        kind: 'message',
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
        leaseOwner: null,
        leaseToken: null,
        leaseUntil: null,
        retryUntil: now + (message.delayMs ?? 0) + (message.retryWindowMs ?? retryWindowMs),
        traceparent: currentTraceparent(),
        createdAt: now,
        updatedAt: now,
      }
      await insertRow(tx, row)
      return id
    },
    async enqueueStep(tx, step) {
      dirty = true
      const id = nextId()
      const now = clock.now().getTime()
      const row = {
        id,
        kind: 'step',
        topic: step.topic,
        processId: step.processId,
        url: '',
        body: { step: step.step, input: step.input ?? null },
        peerId: null,
        peerAddress: '',
        status: 'pending',
        attempts: 0,
        maxAttempts: step.maxAttempts ?? maxAttempts,
        nextAttemptAt: now + (step.delayMs ?? 0),
        lastError: null,
        leaseOwner: null,
        leaseToken: null,
        leaseUntil: null,
        // A step that keeps failing (its database unreachable, say) is retried over the same window.
        retryUntil: now + (step.delayMs ?? 0) + retryWindowMs,
        traceparent: currentTraceparent(),
        createdAt: now,
        updatedAt: now,
      }
      await insertRow(tx, row)
      return id
    },
    async cancel(tx, processId) {
      for (const row of heldRows.get(tx) ?? [])
        if (row.processId === processId && row.status === 'pending') Object.assign(row, { status: 'cancelled', updatedAt: clock.now().getTime() })
      await tx
        .update(t)
        .set({ status: 'cancelled', updatedAt: clock.now().getTime() })
        .where(and(eq(t.processId, processId), inArray(t.status, ['pending'])))
    },
    async hasPending(db, processId) {
      const rows = await db
        .select({ id: t.id })
        .from(t)
        .where(and(eq(t.processId, processId), eq(t.status, 'pending')))
        .limit(1)
      return rows.length > 0
    },
    kick,
    handle(topic, handler) {
      handlers.set(topic, handler)
    },
    start() {
      if (running) return
      running = true
      // Another replica's new work, or the signal connection back after an outage.
      unsubscribe = store.signals.subscribe(outboxChannel, () => wakeUp())
      safetyTimer = setInterval(() => {
        fullScan = true
        wakeUp()
      }, safetyScanMs)
      safetyTimer.unref?.()
      // SQLite has one process: leases left by the last run are ours to take back at once.
      const ready =
        store.dialect === 'sqlite'
          ? write((db) =>
              db
                .update(t)
                .set({ leaseOwner: null, leaseToken: null, leaseUntil: null })
                .where(and(eq(t.status, 'pending'), sql`${t.leaseOwner} is not null`)),
            )
          : Promise.resolve()
      // Counts as a scan: nobody is told the outbox is idle before it was read.
      scanning = ready
        .then(() => undefined)
        .catch((error) => logger.warn('dispatch: leases of the last run not released', { error: (error as Error).message }))
        .finally(() => {
          scanning = undefined
          dirty = true
          fullScan = true
          startScan()
        })
    },
    async stop() {
      running = false
      unsubscribe?.()
      if (safetyTimer) clearInterval(safetyTimer)
      if (soon) clearImmediate(soon)
      soon = undefined
      if (timer) clearTimeout(timer)
      timer = undefined
      timerAt = Infinity
      await scanning
      await Promise.allSettled([...inFlight.values()].map((entry) => entry.run))
      if (renewTimer) clearInterval(renewTimer)
      renewTimer = undefined
    },
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve)
        checkIdle()
      })
    },
    peers() {
      const now = clock.now().getTime()
      return [...peerStates].map(([peerAddress, state]) => {
        const open = state.failures >= breakerThreshold
        return {
          peerAddress,
          inFlight: state.inFlight,
          circuit: !open ? 'closed' : now < state.openUntil ? 'open' : 'half-open',
          consecutiveFailures: state.failures,
          ...(open && now < state.openUntil ? { retryAt: new Date(state.openUntil).toISOString() } : {}),
          ...(state.lastError ? { lastError: state.lastError } : {}),
        } satisfies PeerDeliveryState
      })
    },
  }
}

const describeWindow = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} s`)

/** A delivery that got no answer in time (the peer client words it; undici and AbortSignal name it). */
const isTimeout = (error: unknown) => {
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string } }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true
  const code = e?.cause?.code ?? e?.code
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return true
  return /no answer in time|timed out/.test(e?.message ?? '')
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
