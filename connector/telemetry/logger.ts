/** Structured JSON logs, one object per line, with bound fields such as the request id. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
}

export interface LoggerOptions {
  level?: LogLevel
  /** Where lines go; standard output by default. */
  write?: (line: string) => void
  fields?: Record<string, unknown>
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = rank[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
  const bound = options.fields ?? {}
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...bound, ...fields }, errorReplacer))
  }
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...options, fields: { ...bound, ...fields } }),
  }
}

/**
 * Errors serialise as their message (and code), never as `{}`, with their cause: a failed query's
 * error names the query, its cause says what the database objected to.
 */
function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return { message: value.message, ...(code === undefined ? {} : { code }), ...(value.cause instanceof Error ? { cause: value.cause } : {}) }
  }
  return value
}

export const silentLogger: Logger = createLogger({ write: () => {} })
