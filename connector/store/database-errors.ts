/**
 * One line an operator can act on for a database that cannot be opened, instead of the driver's
 * wrapped error ("Failed query: CREATE SCHEMA IF NOT EXISTS …" hides that the database does not
 * exist). The URL is shown without its password.
 */
export class DatabaseOpenError extends Error {
  constructor(
    message: string,
    readonly reason: 'missing-database' | 'authentication' | 'unreachable' | 'permission' | 'schema-too-new' | 'other',
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The URL as it may be printed: the password replaced. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

/** The driver's own error under drizzle's wrappers (a query error keeps the server's in `cause`). */
function driverError(error: unknown): { code?: string; message: string } {
  let current = error
  for (let depth = 0; depth < 8; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown }
    if (typeof code === 'string') return { code, message: (current as Error).message }
    if (!cause) break
    current = cause
  }
  return { message: (current as Error)?.message ?? String(current) }
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET'])

/** Translates an error met while opening (connecting, checking, migrating) a PostgreSQL database. */
export function postgresOpenError(error: unknown, url: string): DatabaseOpenError {
  if (error instanceof DatabaseOpenError) return error
  const { code, message } = driverError(error)
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {}
  const database = decodeURIComponent(parsed?.pathname.replace(/^\//, '') || parsed?.username || 'postgres')
  const user = decodeURIComponent(parsed?.username || process.env.PGUSER || 'the current user')
  const server = parsed ? `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}` : 'the server'
  const where = `(database.url ${shownUrl(url)})`
  if (code === '3D000')
    return new DatabaseOpenError(
      `PostgreSQL database "${database}" does not exist on ${server}: create it (createdb -h ${parsed?.hostname || 'localhost'} -O ${user} ${database}) or correct the URL ${where}`,
      'missing-database',
      { cause: error },
    )
  if (code === '28P01' || code === '28000')
    return new DatabaseOpenError(
      `PostgreSQL refused the login of user "${user}" to "${database}" on ${server} (${message}): check the user and password in the URL and the server's pg_hba.conf ${where}`,
      'authentication',
      { cause: error },
    )
  if (code === '42501')
    return new DatabaseOpenError(
      `PostgreSQL user "${user}" lacks a permission on "${database}" (${message}): the connector creates its tables and the schema "drizzle" at start; grant it (GRANT CREATE ON DATABASE ${database} TO ${user}; and ownership of the schema public) or use the database owner ${where}`,
      'permission',
      { cause: error },
    )
  if ((code && unreachableCodes.has(code)) || /timeout exceeded when trying to connect|Connection terminated/.test(message))
    return new DatabaseOpenError(
      `PostgreSQL server ${server} cannot be reached (${code ?? message}): check that it runs and listens there, and the host and port in the URL ${where}`,
      'unreachable',
      { cause: error },
    )
  if (code === '57P03')
    return new DatabaseOpenError(`PostgreSQL server ${server} is starting up or shutting down: try again in a moment ${where}`, 'unreachable', { cause: error })
  return new DatabaseOpenError(`PostgreSQL database "${database}" on ${server} cannot be opened: ${message}${code ? ` (${code})` : ''} ${where}`, 'other', {
    cause: error,
  })
}
