import type { Context, Hono } from 'hono'
import { dsp2024Path, dspPath } from '../config/config.ts'
import type { Ctx } from '../context.ts'
import { PasserelleError } from '../errors.ts'
import type { AppEnv } from '../http/env.ts'
import { readJsonAnyType } from '../http/validate.ts'
import { from2024, to2024 } from './dsp-2024-1.ts'

/**
 * The DSP 2024-1 endpoints: the 2025-1 endpoints under `/dsp/2024-1`, with a codec at the door.
 * A request's body is translated to our canonical form and handed to the same 2025-1 route in
 * process (same authentication, schemas, state machines, store); its answer (a process, a catalog,
 * an error) is translated back. Nothing behind the door knows which version a peer spoke.
 *
 * A body the codec refuses is not answered at the door: the refusal travels with the request and
 * is raised when the handler reads the message, after it authenticated the sender (a stranger
 * learns nothing from how its body is refused, as on 2025-1).
 */

/** What the door hands to the 2025-1 route, on the request's environment (a peer cannot set it). */
const door = Symbol('dsp-2024-1-door')
interface DoorPass {
  refusal?: PasserelleError
}

export function passedThroughDoor(c: Context): DoorPass | undefined {
  const env = c.env as Record<symbol, DoorPass> | undefined
  return env && typeof env === 'object' ? env[door] : undefined
}

/** The refusal the door deferred, if any: thrown where the message is read. */
export function deferredRefusal(c: Context): PasserelleError | undefined {
  return passedThroughDoor(c)?.refusal
}

export function serveDsp2024(app: Hono<AppEnv>, ctx: Ctx): void {
  const rebase = { from: ctx.config.dspUrl, to: ctx.config.server.publicUrl + dsp2024Path }
  app.all(`${dsp2024Path}/*`, async (c) => {
    const url = new URL(c.req.url)
    url.pathname = dspPath + c.req.path.slice(dsp2024Path.length)
    const headers = new Headers(c.req.raw.headers)
    headers.delete('content-length')
    headers.delete('transfer-encoding')
    const pass: DoorPass = {}
    let body: string | undefined
    if (c.req.method === 'POST' || c.req.method === 'PUT') {
      try {
        body = JSON.stringify(from2024(await readJsonAnyType(c)))
      } catch (error) {
        if (!(error instanceof PasserelleError)) throw error
        pass.refusal = error
        body = '{}'
      }
      if (!headers.get('content-type')) headers.set('content-type', 'application/json')
    }
    const env = { ...((c.env as object | undefined) ?? {}), [door]: pass }
    const answer = await app.fetch(new Request(url, { method: c.req.method, headers, ...(body === undefined ? {} : { body }) }), env)
    return translateAnswer(answer, rebase)
  })
}

/** A 2025-1 answer as its 2024-1 form: JSON bodies through the codec, our addresses in `Link` rebased. */
async function translateAnswer(answer: Response, rebase: { from: string; to: string }): Promise<Response> {
  const headers = new Headers(answer.headers)
  headers.delete('content-length')
  const link = headers.get('link')
  if (link) headers.set('link', link.replaceAll(`${rebase.from}/`, `${rebase.to}/`).replaceAll(`${dspPath}/`, `${dsp2024Path}/`))
  if (!/json/i.test(headers.get('content-type') ?? '')) return new Response(answer.body, { status: answer.status, headers })
  const text = await answer.text()
  if (text === '') return new Response(null, { status: answer.status, headers })
  return new Response(JSON.stringify(to2024(JSON.parse(text), { rebase })), { status: answer.status, headers })
}
