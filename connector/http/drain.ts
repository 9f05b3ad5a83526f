import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'

/**
 * How long a kept-alive connection may stay without a request once the shutdown began before it is
 * closed: a request its client sent just before the shutdown is still on its way, and is better
 * answered (with `Connection: close`) than cut by a reset.
 */
const idleGraceMs = 200

/**
 * Serves `listener` on `server` and returns the graceful close: stop accepting connections, answer
 * every request in flight and any that arrives on an open connection with `Connection: close` (so
 * the client opens no further request on it), close connections that stay idle, and after
 * `timeoutMs` cut whatever is left.
 */
export function drainOnClose(server: Server, listener: RequestListener): (timeoutMs: number) => Promise<void> {
  let drainingSince: number | undefined
  const connections = new Map<Socket, { active: number; idleSince: number }>()
  const inFlight = new Set<ServerResponse>()

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { active: 0, idleSince: performance.now() })
    socket.once('close', () => connections.delete(socket))
  })
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = connections.get(request.socket)
    if (connection) connection.active++
    inFlight.add(response)
    if (drainingSince !== undefined) response.setHeader('connection', 'close')
    response.once('close', () => {
      inFlight.delete(response)
      if (connection) {
        connection.active--
        connection.idleSince = performance.now()
      }
    })
    void listener(request, response)
  })

  return async (timeoutMs) => {
    const started = (drainingSince = performance.now())
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close')
    // Stop listening without http.Server's close(), which also cuts idle connections at once.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()))
    const sweep = setInterval(() => {
      const now = performance.now()
      for (const [socket, connection] of connections) {
        if (connection.active === 0 && now - Math.max(connection.idleSince, started) >= idleGraceMs) socket.destroy()
      }
    }, 25)
    const deadline = setTimeout(() => {
      for (const socket of connections.keys()) socket.destroy()
    }, timeoutMs)
    await closed
    clearInterval(sweep)
    clearTimeout(deadline)
    // Lets http.Server release what it keeps for open connections (its timeout checks).
    server.close(() => {})
  }
}
