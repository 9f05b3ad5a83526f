import type pg from 'pg'

/**
 * Wake-ups between replicas of one participant (processes sharing one PostgreSQL database):
 * `publish` after a commit tells the other replicas that something changed; their `subscribe`rs
 * run with the payload. On PostgreSQL this is LISTEN/NOTIFY: one dedicated connection listens
 * (reconnecting after an outage) and publications share one statement per turn of the event loop.
 * A replica never hears its own publications (it woke its own readers already). On SQLite there
 * is only ever one process (see sqlite-lock.ts): nothing to tell.
 *
 * Notifications are a hint, never the only path: a subscriber is also called with `undefined`
 * after the listening connection came back (what was published meanwhile is lost), and readers
 * keep a slow safety scan of their own.
 */
export interface Signals {
  /** Tells the other replicas (skipped while none listens). */
  publish(channel: string, payload: string): void
  /** Returns the unsubscribe function. */
  subscribe(channel: string, listener: (payload: string | undefined) => void): () => void
  /**
   * `off`: nothing listens (SQLite, or no reader subscribed yet); `connecting`: the listening
   * connection is being opened or reopened after an outage; `listening`.
   */
  status(): 'off' | 'connecting' | 'listening'
  close(): Promise<void>
}

/** Channel names: lower case letters, digits and `_` (they are identifiers on PostgreSQL). */
const channelPattern = /^[a-z][a-z0-9_]{0,62}$/
/** PostgreSQL refuses payloads of 8000 bytes and more. */
const maxPayload = 7000

export function localSignals(): Signals {
  return { publish() {}, subscribe: () => () => {}, status: () => 'off', close: async () => {} }
}

export interface PostgresSignalsOptions {
  url: string
  /** Sends the publications (the store's pool). */
  query(text: string, values: unknown[]): Promise<unknown>
  /** This replica's id: notifications it sent itself are not delivered back to it. */
  replica: string
  Client: typeof pg.Client
  onError?(error: Error): void
  /** Delay before a reconnection, doubled up to `maxRetryMs` (defaults 250 and 5000). */
  retryMs?: number
  maxRetryMs?: number
  /** How often the other replicas' listening connections are counted, in milliseconds (default 2000). */
  listenersCheckMs?: number
}

export function postgresSignals(options: PostgresSignalsOptions): Signals {
  const listeners = new Map<string, Set<(payload: string | undefined) => void>>()
  let client: pg.Client | undefined
  let connecting: Promise<void> | undefined
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined
  let retryMs = options.retryMs ?? 250
  const prefix = `${options.replica}:`

  const deliver = (channel: string, payload: string | undefined) => {
    for (const listener of listeners.get(channel) ?? []) {
      try {
        listener(payload)
      } catch (error) {
        options.onError?.(error as Error)
      }
    }
  }

  const connect = () => {
    if (closed || client || connecting) return connecting
    const next = new options.Client({ connectionString: options.url, application_name: 'passerelle-signals', keepAlive: true })
    let dead = false
    const lost = (error?: Error) => {
      if (dead) return
      dead = true
      if (error && !closed) options.onError?.(error)
      if (client === next) client = undefined
      next.removeAllListeners('notification')
      next.end().catch(() => {})
      if (closed) return
      retryTimer = setTimeout(() => {
        retryTimer = undefined
        void connect()
      }, retryMs)
      retryTimer.unref?.()
      retryMs = Math.min(options.maxRetryMs ?? 5000, retryMs * 2)
    }
    next.on('error', lost)
    next.on('end', () => lost())
    next.on('notification', (message) => {
      const payload = message.payload ?? ''
      if (payload.startsWith(prefix)) return
      const colon = payload.indexOf(':')
      deliver(message.channel, colon < 0 ? payload : payload.slice(colon + 1))
    })
    connecting = (async () => {
      try {
        await next.connect()
        for (const channel of listeners.keys()) await next.query(`LISTEN ${channel}`)
        ownPid = (await next.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid
        if (closed) {
          await next.end()
          return
        }
        client = next
        retryMs = options.retryMs ?? 250
        connecting = undefined
        // Whatever was published while nobody listened is lost: every subscriber looks again.
        for (const channel of listeners.keys()) deliver(channel, undefined)
      } catch (error) {
        connecting = undefined
        lost(error as Error)
      }
    })()
    return connecting
  }

  // Publishing costs a statement: skipped while no other replica listens. Who listens is looked up
  // at most every `listenersCheckMs` (a replica that starts is heard of within that time; until
  // then its safety scans and long-poll timeouts cover it).
  let ownPid: number | undefined
  let othersListen = true
  let checkedAt = -Infinity
  let checking = false
  const checkListeners = () => {
    if (checking || Date.now() - checkedAt < (options.listenersCheckMs ?? 2000)) return
    checking = true
    options
      .query("select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'passerelle-signals' and pid <> $1", [
        ownPid ?? -1,
      ])
      .then((result) => {
        othersListen = ((result as { rows: Array<{ n: number }> }).rows[0]?.n ?? 1) > 0
        checkedAt = Date.now()
      })
      .catch(() => (othersListen = true))
      .finally(() => (checking = false))
  }

  // Publications of one turn of the event loop go out in one statement.
  let queued: Array<[string, string]> = []
  let soon: NodeJS.Immediate | undefined
  const flush = () => {
    soon = undefined
    checkListeners()
    if (!othersListen) {
      queued = []
      return
    }
    const batch = [...new Map(queued.map(([channel, payload]) => [`${channel}\n${payload}`, [channel, payload] as const])).values()]
    queued = []
    const values: string[] = []
    const calls = batch.map(([channel, payload]) => {
      values.push(channel, prefix + payload)
      return `pg_notify($${values.length - 1}, $${values.length})`
    })
    options.query(`select ${calls.join(', ')}`, values).catch((error) => options.onError?.(error as Error))
  }

  return {
    publish(channel, payload) {
      if (closed) return
      if (!channelPattern.test(channel)) throw new Error(`invalid signal channel ${channel}`)
      if (Buffer.byteLength(payload) > maxPayload) throw new Error('signal payload too large')
      queued.push([channel, payload])
      soon ??= setImmediate(flush)
    },
    subscribe(channel, listener) {
      if (!channelPattern.test(channel)) throw new Error(`invalid signal channel ${channel}`)
      let set = listeners.get(channel)
      if (!set) {
        listeners.set(channel, (set = new Set()))
        if (client) client.query(`LISTEN ${channel}`).catch((error) => options.onError?.(error as Error))
      }
      set.add(listener)
      void connect()
      return () => {
        set.delete(listener)
      }
    },
    status() {
      if (client) return 'listening'
      return listeners.size > 0 && !closed ? 'connecting' : 'off'
    },
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      if (soon) {
        clearImmediate(soon)
        flush()
      }
      await connecting?.catch(() => {})
      const last = client
      client = undefined
      await last?.end().catch(() => {})
    },
  }
}
