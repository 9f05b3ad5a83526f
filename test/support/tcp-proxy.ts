import { createServer, connect, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a server (e.g. PostgreSQL), for outage tests: `cut()` drops every
 * connection and refuses new ones as a dead server would; `restore()` lets them through again.
 */
export interface TcpProxy {
  port: number
  cut(): void
  restore(): void
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let open = true
  const pairs = new Set<Socket>()
  const server = createServer((client) => {
    if (!open) return client.destroy()
    const upstream = connect(target.port, target.host)
    pairs.add(client).add(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
      pairs.delete(client)
      pairs.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      open = false
      for (const socket of pairs) socket.destroy()
    },
    restore() {
      open = true
    },
    close() {
      open = false
      for (const socket of pairs) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A throw-away PostgreSQL database reached through a TCP proxy (for outage tests): `url` goes
 * through the proxy, `name` is the database's name, `close()` closes the proxy and drops it.
 */
export async function postgresBehindProxy(): Promise<{ url: string; name: string; proxy: TcpProxy; close(): Promise<void> }> {
  const { createTestDatabase, postgresAdminUrl } = await import('./stores.ts')
  const database = await createTestDatabase('postgres')
  const server = new URL(postgresAdminUrl)
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) })
  const url = new URL(database.url)
  url.port = String(proxy.port)
  return {
    url: url.toString(),
    name: url.pathname.slice(1),
    proxy,
    async close() {
      await proxy.close()
      await database.drop()
    },
  }
}
