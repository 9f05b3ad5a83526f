import { DrizzleQueryError } from 'drizzle-orm'

/**
 * Whether an error means "the database cannot answer now" (server gone, connection cut, pool
 * exhausted, file locked) rather than "this request is wrong". Such a failure is answered 503 and
 * the replica reports itself unready until the database answers again.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // drizzle wraps driver errors (`DrizzleQueryError`), a failed rollback hides the first one: follow causes.
  let fromDatabase = false
  for (let current = error, depth = 0; current && depth < 8; current = (current as { cause?: unknown }).cause, depth++) {
    fromDatabase ||= current instanceof DrizzleQueryError || fromStore.has(current as object)
    if (unavailableOne(current, fromDatabase)) return true
  }
  return false
}

const fromStore = new WeakSet<object>()
/**
 * Marks an error the store met while talking to its database outside a query (e.g. getting a
 * connection), so that its socket error code is read as the database's, not as a peer's.
 */
export function markDatabaseError(error: unknown): unknown {
  if (error && typeof error === 'object') fromStore.add(error)
  return error
}

/** PostgreSQL SQLSTATE classes and codes that say the server, not the statement, failed. */
const postgresCodes = /^(08|57P0[1-4]|53300|53400|57014)/
/** Socket errors of a client that lost its server (a peer call fails with the same codes: only counted from the store). */
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
/** What the pg driver and pool say when a connection is gone or cannot be had in time. */
const driverMessages =
  /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|Connection terminated due to connection timeout)/
/** SQLite: another connection holds the write lock too long; the file cannot be read or written. */
const sqliteCodes = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY)/

function unavailableOne(error: unknown, fromDatabase: boolean): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && ((fromDatabase && socketCodes.has(code)) || sqliteCodes.test(code))) return true
  // A five-character SQLSTATE is only a PostgreSQL server error when the driver says so (it sets `severity`).
  if (typeof code === 'string' && code.length === 5 && (error as { severity?: unknown }).severity !== undefined && postgresCodes.test(code)) return true
  if (typeof message === 'string' && driverMessages.test(message)) return true
  return (error as { name?: unknown }).name === 'TypeError' && message === 'The database connection is not open'
}
