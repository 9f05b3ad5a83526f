/**
 * The console reads and acts only through the management API, called in-process with the
 * signed-in reader's key: whatever the console shows or does, a script can do with the same
 * requests. `request` is the app's own `app.request`.
 */
export type InProcessRequest = (path: string, init: RequestInit) => Response | Promise<Response>

export interface ApiAnswer<T = unknown> {
  status: number
  ok: boolean
  body: T
  /** The API's error message when it refused (`error.message`). */
  error?: string
  /** The fields it refused, when it said (`error.details.issues`: path and message). */
  issues?: Array<{ path: string; message: string }>
}

export interface ManagementClient {
  get<T>(path: string): Promise<ApiAnswer<T>>
  post<T>(path: string, body?: unknown): Promise<ApiAnswer<T>>
  /** Sends a body as it streams (an upload), with its declared length when known. */
  upload<T>(path: string, body: ReadableStream<Uint8Array>): Promise<ApiAnswer<T>>
  delete<T>(path: string): Promise<ApiAnswer<T>>
  /** A public route of the connector (e.g. /health), without the key. */
  open<T>(path: string): Promise<ApiAnswer<T>>
}

export function managementClient(request: InProcessRequest, key: string, requestId?: string): ManagementClient {
  const call = async (path: string, init: RequestInit) => {
    const headers = new Headers(init.headers)
    if (requestId) headers.set('x-request-id', requestId)
    const response = await request(path, { ...init, headers })
    const text = await response.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    const answer: ApiAnswer<never> = { status: response.status, ok: response.ok, body: body as never }
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message
    if (!response.ok) answer.error = typeof message === 'string' ? message : `HTTP ${response.status}`
    const issues = (body as { error?: { details?: { issues?: unknown } } } | undefined)?.error?.details?.issues
    if (!response.ok && Array.isArray(issues))
      // Issues name their field as `path` (request validation) or `field` (the catalog's checks).
      answer.issues = issues.flatMap((i) => {
        const path = typeof i?.path === 'string' ? i.path : i?.field
        return typeof path === 'string' && typeof i?.message === 'string' ? [{ path, message: i.message as string }] : []
      })
    return answer
  }
  const auth = { authorization: `Bearer ${key}` }
  return {
    get: (path) => call(`/management/v1${path}`, { method: 'GET', headers: auth }),
    post: (path, body) =>
      call(`/management/v1${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      }),
    upload: (path, body) =>
      call(`/management/v1${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit),
    delete: (path) => call(`/management/v1${path}`, { method: 'DELETE', headers: auth }),
    open: (path) => call(path, { method: 'GET' }),
  }
}
