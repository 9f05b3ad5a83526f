import { loadConfig } from '../config/config.ts'
import { UsageError, type CliIo } from './io.ts'
import { findConfigFile } from './participant-config.ts'

/**
 * How CLI commands talk to a running connector: its management API, located by `--url` /
 * PASSERELLE_URL or by the participant's configuration (public URL and management key).
 */
export interface ManagementClient {
  baseUrl: string
  get<T = unknown>(path: string): Promise<T>
  post<T = unknown>(path: string, body?: unknown): Promise<T>
  delete<T = unknown>(path: string): Promise<T>
}

export interface ManagementClientOptions {
  config?: string
  url?: string
  key?: string
}

/** Where the connector is and its management key: flags, then environment, then configuration. */
export function resolveManagementConnection(options: ManagementClientOptions, io: CliIo): { url: string; key: string } {
  let url = options.url ?? io.env.PASSERELLE_URL
  let key = options.key ?? io.env.PASSERELLE_MANAGEMENT_KEY
  if (!url || !key) {
    const config = loadConfig(findConfigFile(options.config, io), { env: io.env })
    url ??= config.server.publicUrl
    key ??= config.management.apiKey
  }
  if (!key) throw new UsageError('no management API key: pass --key, set PASSERELLE_MANAGEMENT_KEY, or set management.apiKey in the configuration')
  return { url: url.replace(/\/+$/, ''), key }
}

export function createManagementClient(options: ManagementClientOptions, io: CliIo): ManagementClient {
  const { url: baseUrl, key } = resolveManagementConnection(options, io)
  const root = `${baseUrl}/management/v1`
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let response: Response
    try {
      response = await fetch(root + path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (error) {
      throw new UsageError(
        `cannot reach the connector at ${baseUrl}: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}. Is it running?`,
        1,
      )
    }
    const text = await response.text()
    const parsed = text ? safeJson(text) : undefined
    if (!response.ok) {
      const message = (parsed as { error?: { message?: string } } | undefined)?.error?.message ?? text
      throw new UsageError(`the connector answered ${response.status}: ${message}`, 1)
    }
    return parsed as T
  }
  return {
    baseUrl,
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body ?? {}),
    delete: (path) => call('DELETE', path),
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
